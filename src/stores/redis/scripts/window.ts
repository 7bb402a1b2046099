/** A count in a time window, for `SharedCounters.countInWindow`. */

/**
 * countInWindow. KEYS: the window's counter. ARGV: prefix, then the TTL in ms (to the window's end
 * plus a margin). Adds one and returns the new count; the TTL is set by the first count of the
 * window (`NX`), so later ones never stretch it.
 */
export const WINDOW_COUNT = `local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
return n
`;
