/**
 * The Redis store's invalidation channel (`InvalidationSource`): tracking on the store's connection
 * to every node that holds sessions (tracking.ts), shared by every subscription of one store, and
 * the set of a cluster's masters kept in step. See "Invalidation for the cache" in
 * docs/stores/redis.md.
 */
import { StoreUnavailableError, type InvalidationListener, type InvalidationSubscription } from '../../store-kit/index.js';
import type { RedisKeys } from './keys.js';
import { NodeTracking, assertTrackable, type TrackingHost } from './tracking.js';
import type { RedisClientLike, RedisClusterLike, RedisTransport } from './transport.js';

/** A cluster client's masters, as node-redis v5 lists them (`masters`), else from its slots. */
function mastersOf(cluster: RedisClusterLike): object[] {
  const listed = (cluster as { masters?: unknown }).masters;
  if (Array.isArray(listed)) return listed as object[];
  const masters = new Set<object>();
  for (const slot of cluster.slots) if (slot !== undefined) masters.add(slot.master);
  return [...masters];
}

function sameSet(a: readonly object[], b: ReadonlyMap<object, unknown>): boolean {
  return a.length === b.size && a.every((item) => b.has(item));
}

/**
 * Every subscription's listener, fed by one tracking per node. Starts with the first subscription,
 * stops with the last.
 */
export class Invalidations {
  readonly #transport: RedisTransport;
  readonly #keys: RedisKeys;
  readonly #listeners = new Set<InvalidationListener>();
  /** By master (the cluster's node object; the client itself on a single node). */
  #nodes = new Map<object, NodeTracking>();
  /** Building the node set: the first one, or after a cluster's masters changed. */
  #building: Promise<void> | null = null;
  /** Why the last build failed, for probe's rejection. */
  #failure: unknown = null;
  readonly #host: TrackingHost;

  constructor(transport: RedisTransport, keys: RedisKeys) {
    this.#transport = transport;
    this.#keys = keys;
    this.#host = {
      send: (client, args) => transport.sendOn(client, args),
      prefix: keys.sessionPrefix,
      changed: (keys) => this.#changed(keys),
      lost: () => this.#each((listener) => listener.down()),
      restored: () => {},
    };
  }

  /** Adds `listener`; the first subscription starts the tracking. */
  subscribe(listener: InvalidationListener): InvalidationSubscription {
    // A client lacking what tracking needs is refused here rather than at every probe.
    const client = this.#transport.client;
    if (!this.#transport.cluster) assertTrackable(client as RedisClientLike);
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#build();
    let closed = false;
    return {
      // Redis counts a write made inside a script as the script's, not the connection's, so NOLOOP
      // does not leave out this store's own writes (docs/stores/redis.md, "Invalidation for the cache").
      echoesOwnWrites: true,
      probe: () => (closed ? Promise.reject(new StoreUnavailableError('the subscription is closed')) : this.#probe()),
      close: async () => {
        if (closed) return;
        closed = true;
        this.#listeners.delete(listener);
        if (this.#listeners.size === 0) await this.stop();
      },
    };
  }

  /** Ends the tracking on every node, releasing the subscriber connections (the store's close). */
  async stop(): Promise<void> {
    this.#listeners.clear();
    const nodes = [...this.#nodes.values()];
    this.#nodes = new Map();
    await Promise.all(nodes.map((node) => node.close()));
  }

  /**
   * Every node's tracking checked (two commands a node); on a cluster, first that its masters are
   * still the ones tracked, else everything is invalidated and the tracking moves to the new ones.
   */
  async #probe(): Promise<void> {
    if (this.#building !== null) await this.#building;
    if (this.#nodes.size === 0) {
      if (this.#listeners.size > 0) this.#build();
      throw new StoreUnavailableError('the invalidation channel is not established', { cause: this.#failure });
    }
    const client = this.#transport.client;
    if (this.#transport.cluster) {
      const cluster = client as RedisClusterLike;
      const masters = mastersOf(cluster);
      let moved = !sameSet(masters, this.#nodes);
      for (const master of masters) {
        if (moved) break;
        // The very connection the cluster sends the master's commands on, or tracking is on the wrong one.
        moved = (await cluster.nodeClient(master)) !== this.#nodes.get(master)?.client;
      }
      if (moved) {
        this.#each((listener) => listener.down());
        this.#rebuild();
        throw new StoreUnavailableError("the cluster's masters changed: tracking moves to the new ones");
      }
    }
    await Promise.all([...this.#nodes.values()].map((node) => node.probe()));
  }

  #build(): void {
    const building = this.#start().then(
      (nodes) => {
        this.#nodes = nodes;
        this.#failure = null;
      },
      (error: unknown) => {
        this.#failure = error;
        // Not connected yet, say: the next probe tries again.
        this.#nodes = new Map();
      },
    );
    this.#building = building.finally(() => {
      if (this.#building === building) this.#building = null;
    });
  }

  #rebuild(): void {
    const old = [...this.#nodes.values()];
    this.#nodes = new Map();
    for (const node of old) void node.close();
    if (this.#listeners.size > 0) this.#build();
  }

  async #start(): Promise<Map<object, NodeTracking>> {
    await this.#transport.ready();
    const client = this.#transport.client;
    const nodes = new Map<object, NodeTracking>();
    if (!this.#transport.cluster) {
      const single = client as RedisClientLike;
      assertTrackable(single);
      nodes.set(single, new NodeTracking(single, this.#host));
      return nodes;
    }
    const cluster = client as RedisClusterLike;
    for (const master of mastersOf(cluster)) {
      const nodeClient = await cluster.nodeClient(master);
      assertTrackable(nodeClient);
      nodes.set(master, new NodeTracking(nodeClient, this.#host));
    }
    return nodes;
  }

  #changed(keys: readonly string[] | null): void {
    if (keys === null) {
      this.#each((listener) => listener.invalidateAll());
      return;
    }
    const ids: string[] = [];
    for (const key of keys) {
      const id = this.#keys.idOfSession(key);
      if (id !== null) ids.push(id);
    }
    if (ids.length > 0) this.#each((listener) => listener.invalidate(ids));
  }

  #each(call: (listener: InvalidationListener) => void): void {
    for (const listener of this.#listeners) {
      try {
        call(listener);
      } catch {
        // A listener must not throw (see InvalidationListener); one that does stops no other.
      }
    }
  }
}
