/** `SharedCounters` on Redis: one counter key per window, counted and given its TTL by one script. */
import type { RedisKeys } from './keys.js';
import type { Script } from './scripts/index.js';
import type { RedisTransport } from './transport.js';

/** What `SharedCounters.countInWindow` allows as a key. */
const COUNTER_KEY = /^[\x20-\x7e]{1,100}$/;

/** How long a window's counter outlives the window: the core's clock and Redis's may differ a little. */
export const WINDOW_MARGIN_MS = 1000;

/**
 * The count of `key` in the window of `windowMs` holding `now`, after adding one: the INCR and the
 * TTL in one round trip, on whichever node serves the counter's slot.
 */
export async function countInWindow(
  transport: RedisTransport,
  keys: RedisKeys,
  script: Script,
  key: string,
  options: { now: number; windowMs: number },
): Promise<number> {
  const { now, windowMs } = options;
  if (typeof key !== 'string' || !COUNTER_KEY.test(key)) throw new RangeError('a counter key is 1 to 100 printable ASCII characters');
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new RangeError('windowMs must be a positive whole number of milliseconds');
  if (!Number.isSafeInteger(now)) throw new RangeError('now must be a whole number of milliseconds');
  const window = Math.floor(now / windowMs);
  // Relative to the core's now, as every TTL the store sets: the core's clock may be a test clock.
  const ttl = (window + 1) * windowMs - now + WINDOW_MARGIN_MS;
  const reply = await transport.run(script, [keys.windowCounter(key, windowMs, window)], [String(ttl)]);
  return Number(reply);
}
