/** The invalidation part of the store contract, for caches in front of a store (`SessionManagerOptions.cache`). */
import type { SessionStore } from './store.js';

/**
 * What an invalidation channel tells the cache in front of a store. Each method is called
 * synchronously as the channel learns of it, and must not throw.
 */
export interface InvalidationListener {
  /** These sessions were changed or removed: forget what is cached of them. */
  invalidate(ids: readonly string[]): void;
  /** Anything may have changed (the server was flushed, the cluster's topology moved): forget everything. */
  invalidateAll(): void;
  /**
   * The channel is down (disconnected, reconnecting, resubscribing): forget everything and cache
   * nothing until a `probe` succeeds again.
   */
  down(): void;
}

/** A running subscription of `InvalidationSource.subscribeInvalidations`. */
export interface InvalidationSubscription {
  /**
   * Resolves once every change committed before the call has reached the listener (a round trip
   * over the channel's own connection, after which its queue is known to be delivered); rejects
   * when the channel is not healthy (not yet subscribed, reconnecting, lost a connection since
   * the last probe). The cache serves entries only within `maxStaleness` of the start of the
   * last probe that resolved, and calls it every quarter of `maxStaleness`.
   */
  probe(): Promise<void>;
  /** Ends the subscription and releases what it holds; the listener is called no more. */
  close(): Promise<void>;
  /**
   * True when changes made through this very store object are reported too (Redis reports a write
   * made inside a script to the connection that ran it, `NOLOOP` or not): the cache then takes the
   * first invalidation after each of its own writes as that write's echo. Absent: they are left out.
   * @default false
   */
  readonly echoesOwnWrites?: boolean;
}

/**
 * A store that tells caches which sessions changed (declared by `capabilities.invalidation`).
 * Changes made through this very store object may be left out, since the cache in front of it
 * updates itself from their answers (or reported, saying so with `echoesOwnWrites`): so every
 * manager on one store object shares that cache, and with a cache on an app changes sessions only
 * through its managers (or `cachedStore`).
 */
export interface InvalidationSource {
  /** Starts delivering changes to `listener`; `probe` says when the subscription is in place. */
  subscribeInvalidations(listener: InvalidationListener): InvalidationSubscription;
}

/** Whether the store implements {@link InvalidationSource} (declared by `capabilities.invalidation`). */
export function hasInvalidationSource(store: SessionStore): store is SessionStore & InvalidationSource {
  return store.capabilities.invalidation === 'everywhere';
}
