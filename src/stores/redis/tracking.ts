/**
 * Server-assisted client-side caching on one Redis node, for the invalidation channel
 * (invalidation.ts): the store's own connection to the node tracks the session keys in BCAST
 * mode with NOLOOP, redirecting the invalidations to a subscriber connection of its own. See
 * "Invalidation for the cache" in docs/stores/redis.md.
 */
import { InvalidOptionError, StoreUnavailableError } from '../../store-kit/index.js';
import type { Reply } from './reply.js';
import type { RedisClientLike } from './transport.js';

/** The channel Redis sends redirected invalidations on to a RESP2 subscriber. */
const INVALIDATE_CHANNEL = '__redis__:invalidate';

/** What a node-redis v5 client has beyond `RedisClientLike` that the channel needs. */
export interface TrackedClientLike extends RedisClientLike {
  /** Whether the connection is up and its handshake done. */
  readonly isReady: boolean;
  /** The options it was created with; the subscriber is created alike. */
  readonly options?: { socket?: object };
  /** A new client with the same options but for `overrides`: the subscriber. */
  duplicate(overrides: object): SubscriberLike;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The subscriber connection: a RESP2 node-redis client. */
interface SubscriberLike extends RedisClientLike {
  subscribe(channel: string, listener: (message: string[] | null) => void): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Whether `client` has what the channel needs: `duplicate()` for the subscriber, and its connection events. */
export function assertTrackable(client: RedisClientLike): asserts client is TrackedClientLike {
  const c = client as Partial<TrackedClientLike>;
  if (typeof c.duplicate !== 'function' || typeof c.on !== 'function' || typeof c.off !== 'function') {
    throw new InvalidOptionError(
      "the Redis store's invalidations need a node-redis v5 client or cluster client (with duplicate() and its connection events); a client pool or a client of another library has not",
    );
  }
}

/** Calls of the channel into a node's tracking: the store's transport, the keys' meaning, and the listener. */
export interface TrackingHost {
  /** Sends one command on the node's data connection (the store's, with its deadline). */
  send(client: RedisClientLike, args: string[]): Promise<Reply>;
  /** The session keys' common start, tracked by prefix. */
  readonly prefix: string;
  /** Keys changed (null: the node was flushed). */
  changed(keys: readonly string[] | null): void;
  /** The node lost its tracking (a connection dropped, the subscriber gone). */
  lost(): void;
  /** The node's tracking is in place again. */
  restored(): void;
}

/** Flags `CLIENT TRACKINGINFO` shows while our tracking is in place. */
const WANTED_FLAGS = ['on', 'bcast', 'noloop'];

/** `CLIENT TRACKINGINFO`'s reply as field → value, from RESP2's flat array or RESP3's map. */
function fields(reply: unknown): Map<string, unknown> {
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [String(k), v]));
  if (Array.isArray(reply)) {
    const map = new Map<string, unknown>();
    for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), reply[i + 1]);
    return map;
  }
  if (reply !== null && typeof reply === 'object') return new Map(Object.entries(reply));
  return new Map();
}

/** Why the tracking `CLIENT TRACKINGINFO` describes is not ours with `subscriberId`, or null when it is. */
export function trackingProblem(reply: unknown, subscriberId: string): string | null {
  const info = fields(reply);
  const flags = info.get('flags');
  const list = Array.isArray(flags) ? flags.map(String) : flags instanceof Set ? [...flags].map(String) : [];
  if (list.includes('broken_redirect')) return 'the subscriber connection is gone (broken_redirect)';
  const missing = WANTED_FLAGS.filter((flag) => !list.includes(flag));
  if (missing.length > 0) return `tracking is not on with ${missing.join(', ')}`;
  if (String(info.get('redirect')) !== subscriberId) return 'tracking redirects to another connection';
  return null;
}

/** Milliseconds between attempts to put the tracking back, as the store's own reconnects. */
const RETRY_MS = 200;

/**
 * One node's tracking: the data connection (the store's own, so that NOLOOP leaves its writes out)
 * and a subscriber connection. Any connection event that can lose it calls `host.lost()` at once
 * and starts over, by itself, once the data connection is ready again.
 */
export class NodeTracking {
  readonly #data: TrackedClientLike;
  readonly #host: TrackingHost;
  #subscriber: SubscriberLike | null = null;
  /** Settles once the current subscriber's `connect()` has: see `#dropSubscriber`. */
  #connected: Promise<boolean> = Promise.resolve(true);
  #subscriberId: string | null = null;
  /** Bumped by every loss: an attempt started before it gives up. */
  #generation = 0;
  #up = false;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;
  readonly #onDataLost = () => this.#lose();
  readonly #onDataReady = () => this.#schedule(0);

  constructor(data: TrackedClientLike, host: TrackingHost) {
    this.#data = data;
    this.#host = host;
    // Connection losses only: an `error` that drops the connection is followed by `reconnecting`
    // or `end`, and listening to `error` on a client given to the store would hide its errors from
    // its owner. Tracking is a property of the connection, so nothing short of a loss undoes it.
    data.on('reconnecting', this.#onDataLost);
    data.on('end', this.#onDataLost);
    data.on('ready', this.#onDataReady);
    this.#schedule(0);
  }

  /** The data connection whose tracking this is. */
  get client(): TrackedClientLike {
    return this.#data;
  }

  get up(): boolean {
    return this.#up;
  }

  /**
   * Checks the tracking on the data connection (one command), then a PING through the subscriber,
   * whose answer comes after every invalidation Redis queued before it. Rejects if either fails,
   * calling `lost` when the tracking is gone.
   */
  async probe(): Promise<void> {
    const subscriber = this.#subscriber;
    const id = this.#subscriberId;
    if (!this.#up || subscriber === null || id === null) throw new StoreUnavailableError('the invalidation channel is not established');
    const generation = this.#generation;
    const info = await this.#host.send(this.#data, ['CLIENT', 'TRACKINGINFO']);
    const problem = trackingProblem(info, id);
    if (problem !== null) {
      if (generation === this.#generation) this.#lose();
      throw new StoreUnavailableError(`the invalidation channel lost its tracking: ${problem}`);
    }
    await subscriber.sendCommand(['PING']);
    if (generation !== this.#generation) throw new StoreUnavailableError('the invalidation channel was lost during the probe');
  }

  /** Stops: tracking off (when the connection is up), the subscriber closed, the listeners removed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation++;
    this.#up = false;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#data.off('reconnecting', this.#onDataLost);
    this.#data.off('end', this.#onDataLost);
    this.#data.off('ready', this.#onDataReady);
    this.#dropSubscriber();
    if (this.#data.isReady) await this.#host.send(this.#data, ['CLIENT', 'TRACKING', 'OFF']).catch(() => {});
  }

  #lose(): void {
    if (this.#closed) return;
    this.#generation++;
    const wasUp = this.#up;
    this.#up = false;
    this.#dropSubscriber();
    if (wasUp) this.#host.lost();
    this.#schedule(RETRY_MS);
  }

  #schedule(delay: number): void {
    if (this.#closed || this.#up || this.#retry !== null) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#establish().catch(() => {
        // Whatever failed (a refused connection, a timeout), try again later.
        if (!this.#closed && !this.#up) {
          this.#generation++;
          this.#dropSubscriber();
          this.#schedule(RETRY_MS);
        }
      });
    }, delay);
    this.#retry.unref();
  }

  /** A new subscriber, its id, then tracking redirected to it on the data connection. */
  async #establish(): Promise<void> {
    // The data connection comes back by itself; its `ready` schedules the next attempt.
    if (this.#closed || this.#up || !this.#data.isReady) return;
    const generation = this.#generation;
    const subscriber = this.#data.duplicate({
      RESP: 2,
      clientSideCache: undefined,
      emitInvalidate: false,
      disableOfflineQueue: true,
      // A lost subscriber is replaced, never reconnected: a new connection has a new id.
      socket: { ...this.#data.options?.socket, reconnectStrategy: false },
    });
    this.#subscriber = subscriber;
    const gone = () => {
      if (this.#subscriber === subscriber) this.#lose();
    };
    subscriber.on('error', gone);
    subscriber.on('end', gone);
    subscriber.on('reconnecting', gone);
    const connecting = subscriber.connect();
    this.#connected = connecting.then(
      () => true,
      () => false,
    );
    await connecting;
    const id = String(await subscriber.sendCommand(['CLIENT', 'ID']));
    await subscriber.subscribe(INVALIDATE_CHANNEL, (message) => {
      if (this.#subscriber === subscriber) this.#host.changed(message);
    });
    if (generation !== this.#generation) throw new Error('lost while establishing');
    // OFF first: tracking may still be on with the previous subscriber's id.
    await this.#host.send(this.#data, ['CLIENT', 'TRACKING', 'OFF']);
    await this.#host.send(this.#data, ['CLIENT', 'TRACKING', 'ON', 'REDIRECT', id, 'BCAST', 'PREFIX', this.#host.prefix, 'NOLOOP']);
    if (generation !== this.#generation || this.#closed) throw new Error('lost while establishing');
    this.#subscriberId = id;
    this.#up = true;
    this.#host.restored();
  }

  #dropSubscriber(): void {
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    this.#subscriberId = null;
    if (subscriber === null) return;
    // node-redis's destroy() while the socket is still connecting leaves that socket open once it
    // connects (it has no socket to destroy yet, and refuses a second destroy()): a subscriber is
    // destroyed only once its connect() has settled.
    void this.#connected.then((connected) => {
      if (connected && subscriber.isOpen) subscriber.destroy();
    });
  }
}
