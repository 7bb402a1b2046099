/**
 * The expiry arithmetic, in one place. All times are milliseconds since the epoch; timeouts are
 * seconds. Stores that cannot call these (Lua, SQL) implement the same formulas and the
 * conformance suite checks they agree.
 */

export interface TouchPolicy {
  /** Longest time, in ms, between two writes of `lastSeenAt` for an active session. */
  maxIntervalMs: number;
  /** Fraction of the idle timeout after which a read writes `lastSeenAt` again. */
  idleFraction: number;
}

/** A session ends at the earlier of its idle deadline and its absolute expiry. */
export function expiresAt(lastSeenAt: number, idleTimeoutSeconds: number, absoluteExpiresAt: number): number {
  return Math.min(lastSeenAt + idleTimeoutSeconds * 1000, absoluteExpiresAt);
}

/** Whether a record is live at `now`: strictly before its `expiresAt`. */
export function isLive(record: { expiresAt: number }, now: number): boolean {
  return now < record.expiresAt;
}

/** How long a read may go without writing `lastSeenAt`: at most `maxIntervalMs` or a fraction of the idle timeout. */
export function touchIntervalMs(idleTimeoutSeconds: number, policy: TouchPolicy): number {
  return Math.min(policy.maxIntervalMs, Math.floor(idleTimeoutSeconds * 1000 * policy.idleFraction));
}

/** Whether a read at `now` must write `lastSeenAt` again (see `touchIntervalMs`). */
export function isTouchDue(record: { lastSeenAt: number; idleTimeout: number }, now: number, policy: TouchPolicy): boolean {
  return now - record.lastSeenAt >= touchIntervalMs(record.idleTimeout, policy);
}

/** Cookie Max-Age in whole seconds for a session ending at `expiresAt`; rounded up so the cookie never dies first. */
export function cookieMaxAge(expiresAtMs: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAtMs - now) / 1000));
}
