/**
 * How the Redis store's commands reach Redis: the connection, a deadline on every command, the
 * errors that mean "unavailable" (causes.ts says why), and scripts sent by digest.
 */
import { StoreUnavailableError, loadDriver } from '../../store-kit/index.js';
import {
  ConnectionFailures,
  REFUSED_REPLY,
  endpointOf,
  noAnswer,
  unavailable,
  unavailableError,
  type Endpoint,
  type Situation,
} from './causes.js';
import { scriptNotCompiled } from './compat.js';
import { Deadlines } from './deadlines.js';
import type { RedisConnection } from './options.js';
import type { Reply } from './reply.js';
import type { Script } from './scripts/index.js';

/**
 * node-redis's command options, of which the store sets one.
 * @inline
 */
interface CommandOptionsLike {
  /** Milliseconds before node-redis gives up on the command. */
  timeout?: number;
}

/** The slice of a node-redis v5 client this store calls. */
export interface RedisClientLike {
  /** Whether the client is connected (or connecting); the store connects it when not. */
  readonly isOpen: boolean;
  /** Connects the client. */
  connect(): Promise<unknown>;
  /** Sends one command and resolves to its reply. */
  sendCommand(args: ReadonlyArray<string>, options?: CommandOptionsLike): Promise<unknown>;
  /** Closes the connection once pending commands are answered; called only on a client the store opened. */
  close(): Promise<unknown>;
  /** Drops the connection at once, when `close` fails. */
  destroy(): void;
}

/** The slice of a node-redis v5 cluster client this store calls. */
export interface RedisClusterLike {
  /** Whether the client is connected (or connecting); the store connects it when not. */
  readonly isOpen: boolean;
  /** Connects to the cluster. */
  connect(): Promise<unknown>;
  /** Sends one command to the node serving `firstKey`'s slot and resolves to its reply. */
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
    options?: CommandOptionsLike,
  ): Promise<unknown>;
  /** The cluster's slots, each with its master node: where the sweep and admin scripts run. */
  readonly slots: ReadonlyArray<{
    /** The node serving the slot. */
    readonly master: object;
  }>;
  /** A client of one node of the cluster. */
  nodeClient(node: object): Promise<RedisClientLike> | RedisClientLike;
  /** Closes every connection once pending commands are answered; called only on a client the store opened. */
  close(): Promise<unknown>;
  /** Drops every connection at once, when `close` fails. */
  destroy(): void;
}

/** Where an admin script runs: a node, and the expiry indexes of the slots it serves. */
export interface Target {
  client: RedisClientLike;
  indexes: readonly string[];
}

/** Replies that mean the server cannot serve now (OOM: full, with `maxmemory-policy noeviction`). */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOREPLICAS|MOVED|ASK|OOM)\b/;

/**
 * An error the server replied with. Known by its class's name: node-redis is loaded only for a
 * connection the store opens, and a given client may come from another copy of it.
 */
export function isReply(error: unknown): error is Error {
  return error instanceof Error && ['ErrorReply', 'SimpleError', 'BlobError'].includes(error.constructor.name);
}

/**
 * Runs a script through `send`: `command` is EVALSHA's, with its first two slots left for the
 * command name and the script. EVALSHA first; EVAL when the server does not know the script yet,
 * with a server too old for the scripts' shebangs named as such.
 */
function evalScript(s: Script, command: string[], send: (command: string[]) => Promise<Reply>): Promise<Reply> {
  command[0] = 'EVALSHA';
  command[1] = s.sha;
  return send(command).catch((error: unknown) => {
    if (!(isReply(error) && error.message.startsWith('NOSCRIPT'))) throw error;
    command[0] = 'EVAL';
    command[1] = s.text;
    return send(command).catch((failed: unknown) => {
      throw isReply(failed) ? scriptNotCompiled(failed) : failed;
    });
  });
}

function isCluster(client: RedisClientLike | RedisClusterLike): client is RedisClusterLike {
  return typeof (client as Partial<RedisClusterLike>).nodeClient === 'function';
}

function reconnectStrategy(retries: number): number {
  return Math.min(100 + retries * 50, 250);
}

/** The part of the `redis` package the store calls, to open connections of its own. */
type RedisDriver = Pick<typeof import('redis'), 'createClient' | 'createCluster'>;

/**
 * The given client, or a new one that queues nothing while disconnected (see `commandTimeout`),
 * whose failures go to `failures`: each request reports its own as StoreUnavailableError, and
 * reconnection is automatic.
 */
function open(connection: RedisConnection, timeout: number, failures: ConnectionFailures): RedisClientLike | RedisClusterLike {
  if ('client' in connection) return connection.client;
  const redis = loadDriver<RedisDriver>('redis', 'RedisStore');
  const socket = { connectTimeout: timeout, reconnectStrategy };
  const failed = (error: unknown) => failures.failed(error);
  if ('cluster' in connection) {
    const cluster = redis.createCluster({
      rootNodes: connection.cluster.rootNodes.map((url) => ({ url })),
      defaults: { socket, disableOfflineQueue: true },
    });
    cluster.on('error', failed).on('node-error', failed);
    cluster.on('connect', () => failures.recovered());
    return cluster as unknown as RedisClusterLike;
  }
  const client = redis.createClient({ url: connection.url, socket, disableOfflineQueue: true });
  client.on('error', failed).on('ready', () => failures.recovered());
  return client as unknown as RedisClientLike;
}

export class RedisTransport {
  readonly cluster: boolean;
  readonly #client: RedisClientLike | RedisClusterLike;
  readonly #owned: boolean;
  /** Every script's ARGV[1]. */
  readonly #prefix: string;
  readonly #timeout: number;
  #connecting: Promise<unknown> | null = null;
  #closed = false;
  /** Commands awaiting a reply, each with its deadline; see #deadline. */
  readonly #inflight = new Deadlines();
  #watchdog: NodeJS.Timeout | null = null;
  readonly #failures: ConnectionFailures;
  readonly #endpoint: Endpoint;

  constructor(connection: RedisConnection, timeout: number, prefix: string, onError?: (error: StoreUnavailableError) => void) {
    this.#endpoint = endpointOf(connection);
    this.#failures = new ConnectionFailures((error) => unavailableError(error, this.#situation), onError);
    const client = open(connection, timeout, this.#failures);
    this.#client = client;
    this.#owned = !('client' in connection);
    this.#timeout = timeout;
    this.#prefix = prefix;
    this.cluster = isCluster(client);
  }

  /** The client the store's commands go through: one connection, or a cluster client. */
  get client(): RedisClientLike | RedisClusterLike {
    return this.#client;
  }

  /** The `commandTimeout` option. */
  get timeout(): number {
    return this.#timeout;
  }

  /** One command on one connection (a cluster's node client: see invalidation.ts), within the command timeout. */
  sendOn(client: RedisClientLike, args: string[]): Promise<Reply> {
    return this.#sendTo(client, undefined, args, this.#timeout);
  }

  /** Connects on first use; while a first connection is pending, waits at most `commandTimeout`. */
  async ready(): Promise<void> {
    if (this.#closed) throw new StoreUnavailableError('the session store is closed');
    const client = this.#client;
    if (client.isOpen) {
      if (this.#connecting === null) return;
    } else {
      this.#connecting ??= client.connect().catch((error: unknown) => {
        this.#connecting = null;
        throw error;
      });
    }
    const connecting = this.#connecting;
    if (connecting === null) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          // node-redis keeps trying (see reconnectStrategy); its last failure says why none succeeded yet.
          timer = setTimeout(() => {
            const last = this.#failures.last;
            const situation = this.#situation;
            reject(last === null ? unavailable(noAnswer(situation), situation.endpoint) : unavailableError(last, situation));
          }, this.#timeout);
        }),
      ]);
      if (this.#connecting === connecting) this.#connecting = null;
    } catch (error) {
      throw this.#unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One command to the node serving `key`. */
  send(key: string, args: string[]): Promise<Reply> {
    const client = this.#client;
    if (this.#closed || !client.isOpen || this.#connecting !== null) return this.ready().then(() => this.send(key, args));
    return this.#sendTo(client, key, args, this.#timeout);
  }

  /** A script on the node serving `keys[0]`: EVALSHA, or EVAL when the server does not know it yet. */
  run(s: Script, keys: readonly string[], args: readonly string[]): Promise<Reply> {
    // Sized once: grown by push, the array was reallocated on every call of this hot path.
    const command = new Array<string>(4 + keys.length + args.length);
    command[0] = command[1] = '';
    command[2] = String(keys.length);
    let at = 3;
    for (const key of keys) command[at++] = key;
    command[at++] = this.#prefix;
    for (const arg of args) command[at++] = arg;
    const first = keys[0] as string;
    return evalScript(s, command, (sent) => this.send(first, sent));
  }

  /**
   * An admin script with no declared keys on one node (on a cluster: allowed to span its slots).
   * These walk whole indexes, so they get ten times the command timeout.
   */
  runOn(target: Target, s: Script, args: string[]): Promise<Reply> {
    const timeout = this.#timeout * 10;
    return evalScript(s, ['', '', '0', this.#prefix, ...args], (command) => this.#sendTo(target.client, undefined, command, timeout));
  }

  /** Loads `scripts` into the node's script cache (SCRIPT LOAD), so that EVALSHA finds them there. */
  async loadScripts(target: Target, scripts: readonly Script[]): Promise<void> {
    await Promise.all(
      scripts.map((s) =>
        this.#sendTo(target.client, undefined, ['SCRIPT', 'LOAD', s.text], this.#timeout).catch((error: unknown) => {
          throw isReply(error) ? scriptNotCompiled(error) : error;
        }),
      ),
    );
  }

  /**
   * Where admin scripts run: each master with the expiry indexes (`indexes`, whose cluster slots are
   * `slots`) of its slots, or the one node with all of them.
   */
  async targets(indexes: readonly string[], slots: () => ArrayLike<number>): Promise<Target[]> {
    await this.ready();
    const client = this.#client;
    if (!isCluster(client)) return [{ client, indexes }];
    const byMaster = new Map<object, string[]>();
    const slotOf = slots();
    for (let i = 0; i < indexes.length; i++) {
      const master = client.slots[slotOf[i] as number]?.master;
      if (master === undefined) throw new StoreUnavailableError('the cluster has unassigned slots');
      let list = byMaster.get(master);
      if (list === undefined) byMaster.set(master, (list = []));
      list.push(indexes[i] as string);
    }
    const targets: Target[] = [];
    for (const [master, list] of byMaster) {
      try {
        targets.push({ client: await client.nodeClient(master), indexes: list });
      } catch (error) {
        throw this.#unavailable(error);
      }
    }
    return targets;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
    if (!this.#owned) return;
    const client = this.#client;
    if (!client.isOpen) return;
    // Never connected: there is nothing to flush, and close() would wait for the replies of a
    // handshake that a silent server never sends.
    if (this.#connecting !== null) return client.destroy();
    // Connected: pending replies get the command timeout, then the connection is dropped.
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      client.close().then(
        () => true,
        () => false,
      ),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.#timeout);
      }),
    ]);
    clearTimeout(timer);
    if (!closed) client.destroy();
  }

  /** For the messages of causes.ts: where the connection goes, the time allowed, whether it ever worked. */
  get #situation(): Situation {
    return { endpoint: this.#endpoint, timeout: this.#timeout, first: !this.#failures.wasReady };
  }

  #unavailable(error: unknown): unknown {
    if (error instanceof StoreUnavailableError) return error;
    // Any other reply is about the command (a bug, a script error), not the store's availability.
    if (isReply(error) && !TRANSIENT_REPLY.test(error.message) && !REFUSED_REPLY.test(error.message)) return error;
    // A command refused while node-redis reconnects: why it cannot reconnect is the cause.
    const offline = error instanceof Error && error.constructor.name === 'ClientOfflineError';
    return unavailableError(offline ? (this.#failures.last ?? error) : error, this.#situation);
  }

  /**
   * A sent command's reply, or `StoreUnavailableError` once it has taken more than `timeout` ms.
   * One watchdog timer enforces every deadline, rather than a timer and an AbortSignal per
   * command: on the hot path that bookkeeping cost more than the rest of the transport. A reply
   * that comes after its deadline is dropped.
   */
  #deadline<T>(sent: Promise<T>, timeout: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = this.#inflight.add(timeout, reject);
      this.#watchdog ??= this.#startWatchdog();
      sent.then(
        (reply) => {
          this.#inflight.remove(entry);
          resolve(reply);
        },
        (error: unknown) => {
          this.#inflight.remove(entry);
          reject(this.#unavailable(error));
        },
      );
    });
  }

  #startWatchdog(): NodeJS.Timeout {
    const timer = setInterval(
      () => {
        if (this.#inflight.isEmpty) return;
        this.#inflight.expire(Date.now(), (entry) => {
          entry.reject(unavailable(`no reply within ${entry.timeout} ms`, this.#endpoint));
        });
      },
      Math.max(5, Math.min(50, Math.floor(this.#timeout / 5))),
    );
    timer.unref();
    return timer;
  }

  /** One command on `client` (routed by `key` on a cluster), within `timeout` ms. */
  #sendTo(client: RedisClientLike | RedisClusterLike, key: string | undefined, args: string[], timeout: number): Promise<Reply> {
    let sent: Promise<Reply>;
    try {
      sent = isCluster(client) ? client.sendCommand(key, false, args) : client.sendCommand(args);
    } catch (error) {
      // A client given to the store might throw where node-redis rejects.
      sent = Promise.reject(error);
    }
    return this.#deadline(sent, timeout);
  }
}
