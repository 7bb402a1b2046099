import { InvalidOptionError } from './errors.js';

/**
 * The in-process cache of session records in front of the store (`SessionManagerOptions.cache`).
 * A request whose session is cached and fresh sends nothing to the store; every rule (expiry, the
 * secret check, touch throttling) runs on the cached record as on a loaded one.
 */
export interface CacheOptions {
  /**
   * Most sessions held; past it the least recently used is dropped.
   * @default 10000
   */
  maxEntries?: number;
  /**
   * Most bytes of session data held (estimated as each record's data as JSON plus a fixed
   * overhead per record); past it the least recently used is dropped.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * Milliseconds a cached session may be out of date at most. With a store that pushes
   * invalidations (Redis, PostgreSQL, memory), entries are served only while the invalidation
   * channel answered a probe within this time (it is probed every quarter of it), and the whole
   * cache is dropped when the channel goes down; with a store that does not (SQLite), an entry is
   * served for at most this long after it was read.
   * @default 1000
   */
  maxStaleness?: number;
}

/** {@link CacheOptions} checked, with their defaults. */
export interface ResolvedCacheOptions {
  /** See {@link CacheOptions.maxEntries}. */
  readonly maxEntries: number;
  /** See {@link CacheOptions.maxBytes}. */
  readonly maxBytes: number;
  /** See {@link CacheOptions.maxStaleness}. */
  readonly maxStaleness: number;
}

/** The cache's defaults. */
export const defaultCacheOptions: ResolvedCacheOptions = Object.freeze({
  maxEntries: 10_000,
  maxBytes: 64 * 1024 * 1024,
  maxStaleness: 1000,
});

const CACHE_OPTION_NAMES = Object.keys({ maxEntries: true, maxBytes: true, maxStaleness: true } satisfies Record<keyof CacheOptions, true>);

function bounded(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`cache.${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** `false` or absent: no cache; `true`: the defaults; an object: those options over the defaults. */
export function resolveCacheOptions(value: CacheOptions | boolean | undefined): ResolvedCacheOptions | null {
  if (value === undefined || value === false) return null;
  if (value === true) return defaultCacheOptions;
  if (value === null || typeof value !== 'object') throw new InvalidOptionError('cache must be true, false or an object of cache options');
  for (const name of Object.keys(value)) {
    if (!CACHE_OPTION_NAMES.includes(name)) {
      throw new InvalidOptionError(`unknown option cache.${name} (known cache options: ${CACHE_OPTION_NAMES.join(', ')})`);
    }
  }
  return Object.freeze({
    maxEntries: bounded('maxEntries', value.maxEntries ?? defaultCacheOptions.maxEntries, 1, 10_000_000),
    maxBytes: bounded('maxBytes', value.maxBytes ?? defaultCacheOptions.maxBytes, 1024, 2 ** 40),
    maxStaleness: bounded('maxStaleness', value.maxStaleness ?? defaultCacheOptions.maxStaleness, 20, 3_600_000),
  });
}
