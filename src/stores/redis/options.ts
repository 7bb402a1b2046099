/** The store's options, documented for callers and checked at construction. */
import { InvalidOptionError, type StoreUnavailableError } from '../../store-kit/index.js';
import { assertPartitionKey } from './partitions.js';
import type { RedisClientLike, RedisClusterLike } from './transport.js';

/** The options of `new RedisStore(options)`: one of `url`, `client` or `cluster`, and the rest with defaults. */
export interface RedisStoreOptions {
  /**
   * A Redis URL to connect to (`rediss://` for TLS), with the password and the database number in
   * it; the store opens the connection, with the package `redis`, and `close()` ends it. Where
   * ioredis takes `{ host, port, password, db }`, this takes one URL.
   * @default 'redis://127.0.0.1:6379' (when neither `client` nor `cluster` is given)
   * @example 'redis://:password@redis.internal:6379/0'
   */
  url?: string;
  /**
   * An existing node-redis client or cluster client, speaking RESP2 or RESP3. The store connects
   * it if it is not open yet and never closes it; its owner handles its `error` events. For the
   * fault behaviour described in `commandTimeout`, create it with `disableOfflineQueue: true` and
   * a reconnect strategy.
   * @default undefined
   */
  client?: RedisClientLike | RedisClusterLike;
  /**
   * Creates a cluster client from these seed nodes (`redis://host:port` URLs).
   * @default undefined
   * @example { rootNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] }
   */
  cluster?: {
    /** Seed nodes, `redis://host:port`; the client discovers the rest. */
    rootNodes: string[];
  };
  /**
   * Prepended to every key, so that several apps can share one Redis. Must not contain `{` or `}`.
   * @default 'tessera:'
   */
  prefix?: string;
  /**
   * Milliseconds a command may take before it fails with `StoreUnavailableError`. Connections
   * the store opens also use it as their connect timeout, queue nothing while disconnected, and
   * retry the connection every 100 to 250 ms, so service resumes within about a second of Redis
   * coming back.
   * @default 500
   */
  commandTimeout?: number;
  /**
   * The key that a logged-in session's id partition is derived from (`keyedPartition`), so that an
   * id says nothing about its user to whoever lacks it: at least 32 bytes, the same on every
   * instance, kept secret like a cookie-signing key. Changing it moves new logins to other
   * partitions; see "Partition key" in docs/stores/redis.md for what that means.
   * @default a random 32-byte key that the first instance creates in Redis (`P partition-key`) and every instance then shares
   * @example Buffer.from(process.env.TESSERA_PARTITION_KEY, 'base64')
   */
  partitionKey?: Uint8Array;
  /**
   * Milliseconds a session's hash stays in Redis past its expiry (its TTL is `expiresAt - now`
   * plus this). Every read refuses an expired session whatever its TTL. A sweep that comes later
   * still removes the session and reports it with its subject (kept apart for that, see "Expired
   * sessions and the sweep" in docs/stores/redis.md), but the hash is where it finds it cheapest,
   * so keep this longer than the time between two sweeps (the core's `cleanupInterval`: 60 s,
   * jittered up to 72 s, by default). With 0, Redis drops the hash at the expiry.
   * @default 300000 (5 minutes)
   */
  expiredRetention?: number;
  /**
   * Called with what goes wrong on the connections the store opens (`url`, `cluster`) outside any
   * request: a connection lost, a reconnection refused, a password or database the server refuses.
   * Each is a `StoreUnavailableError` whose message names the cause and whose `cause` is
   * node-redis's error; it comes once when the connection fails and again when the reason changes,
   * not at every reconnection attempt. The store never logs: without this hook these errors are
   * dropped (each request still fails with its own). What the hook throws is ignored. A `client`
   * given to the store reports to its owner's `error` listener instead.
   * @default undefined
   * @example onError: (error) => logger.warn({ err: error.cause }, error.message)
   */
  onError?: (error: StoreUnavailableError) => void;
}

/** Where the store's commands go: a connection it opens (`url`, `cluster`), or a given client. */
export type RedisConnection = { url: string } | { cluster: { rootNodes: string[] } } | { client: RedisClientLike | RedisClusterLike };

export interface ResolvedRedisOptions {
  connection: RedisConnection;
  prefix: string;
  commandTimeout: number;
  partitionKey: Uint8Array | undefined;
  expiredRetention: number;
  onError: ((error: StoreUnavailableError) => void) | undefined;
}

/** ioredis's connection options, which node-redis, and so this store, takes as one URL. */
const IOREDIS_KEYS = ['host', 'port', 'username', 'password', 'db', 'tls'] as const;

/** Refuses ioredis-style options, with the URL that says the same (the password left out). */
function refuseIoredisOptions(options: RedisStoreOptions): void {
  const o = options as Record<string, unknown>;
  const given = IOREDIS_KEYS.filter((key) => o[key] !== undefined);
  if (given.length === 0) return;
  const user = o.username === undefined ? '' : String(o.username);
  const auth = o.password !== undefined ? `${user}:PASSWORD@` : user !== '' ? `${user}@` : '';
  const url = `${o.tls ? 'rediss' : 'redis'}://${auth}${String(o.host ?? '127.0.0.1')}:${String(o.port ?? 6379)}/${String(o.db ?? 0)}`;
  throw new InvalidOptionError(
    `RedisStore takes no ${given.join(', ')} (ioredis-style options): pass { url: '${url}' }, or { client } with a node-redis client of your own`,
  );
}

/** `url` if it is a redis:// or rediss:// URL. */
function redisUrl(url: unknown, name: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(String(url));
  } catch {
    // Not a URL at all: refused below.
  }
  if (typeof url === 'string' && (parsed?.protocol === 'redis:' || parsed?.protocol === 'rediss:')) return url;
  // Shown without its password.
  const shown =
    parsed !== null ? `${parsed.protocol}//${parsed.host}${parsed.pathname}` : String(JSON.stringify(url)).replace(/:[^:@/]*@/, ':***@');
  throw new InvalidOptionError(`${name} must be a redis:// or rediss:// URL, got ${shown}`);
}

/** Options checked, with their defaults. */
export function resolveRedisOptions(options: RedisStoreOptions): ResolvedRedisOptions {
  refuseIoredisOptions(options);
  const onError = options.onError;
  if (onError !== undefined && typeof onError !== 'function') throw new InvalidOptionError('onError must be a function');
  const prefix = options.prefix ?? 'tessera:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) throw new InvalidOptionError('prefix must be a string without { or }');
  const commandTimeout = options.commandTimeout ?? 500;
  if (!Number.isInteger(commandTimeout) || commandTimeout < 1)
    throw new InvalidOptionError('commandTimeout must be a positive integer (ms)');
  const given = [options.url, options.client, options.cluster].filter((v) => v !== undefined).length;
  if (given > 1) throw new InvalidOptionError('give one of url, client or cluster');
  const partitionKey = options.partitionKey === undefined ? undefined : assertPartitionKey(options.partitionKey);
  const expiredRetention = options.expiredRetention ?? 300_000;
  if (!Number.isSafeInteger(expiredRetention) || expiredRetention < 0)
    throw new InvalidOptionError('expiredRetention must be a whole number of milliseconds, 0 or more');
  let connection: RedisConnection;
  if (options.client !== undefined) connection = { client: options.client };
  else if (options.cluster !== undefined) {
    const rootNodes = options.cluster.rootNodes;
    if (!Array.isArray(rootNodes) || rootNodes.length === 0)
      throw new InvalidOptionError('cluster.rootNodes must list at least one redis:// URL');
    connection = { cluster: { rootNodes: rootNodes.map((url) => redisUrl(url, 'each of cluster.rootNodes')) } };
  } else connection = { url: redisUrl(options.url ?? 'redis://127.0.0.1:6379', 'url') };
  return { connection, prefix, commandTimeout, partitionKey, expiredRetention, onError };
}
