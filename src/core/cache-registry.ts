/** Which cache a store has: one per store object, shared by every manager on it. */
import { CachingStore } from './cache.js';
import { resolveCacheOptions, type CacheOptions, type ResolvedCacheOptions } from './cache-options.js';
import { systemClock, type Clock } from './clock.js';
import { InvalidOptionError } from './errors.js';
import type { SessionStore } from './store.js';

/** One cache per store object: every manager on it shares it (see `InvalidationSource` on why). */
const caches = new WeakMap<SessionStore, CachingStore>();

/**
 * The cache in front of `store`: the one its managers already share, or a new one when `options`
 * asks for it; null when the store has none and none is asked for.
 */
export function cacheFor(store: SessionStore, options: ResolvedCacheOptions | null, clock: Clock): CachingStore | null {
  if (store instanceof CachingStore) return store;
  const existing = caches.get(store);
  if (existing !== undefined) {
    if (options !== null && !sameOptions(existing.options, options)) {
      throw new InvalidOptionError('managers on one store share its cache: give them the same cache options');
    }
    return existing;
  }
  if (options === null) return null;
  const cache = new CachingStore(store, options, clock);
  caches.set(store, cache);
  return cache;
}

/**
 * `store` with the in-process cache in front of it, as managers given the `cache` option use it
 * (they share one per store object): for code that calls the store directly while managers cache
 * it, so that its changes reach the cache too. Give managers the result, or the store itself with
 * the same `cache` option.
 *
 * @example
 * const store = cachedStore(new RedisStore({ url }), { maxStaleness: 500 });
 * const sessions = new SessionManager({ store });
 */
export function cachedStore(store: SessionStore, options: CacheOptions | true = true, clock: Clock = systemClock): SessionStore {
  return cacheFor(store, resolveCacheOptions(options), clock) as CachingStore;
}

function sameOptions(a: ResolvedCacheOptions, b: ResolvedCacheOptions): boolean {
  return a.maxEntries === b.maxEntries && a.maxBytes === b.maxBytes && a.maxStaleness === b.maxStaleness;
}
