/**
 * tessera's `node:diagnostics_channel` channels, for tools that observe a process without a hook
 * in the app (APMs, `tessera-session/opentelemetry`, `tessera-session/prometheus`):
 * - `tessera:store`: a tracing channel, every store call a manager makes (see `reporting-store.ts`,
 *   context {@link StoreCallContext}).
 * - `tessera:unknown-token`: a well-formed token that opened no session (unknown, expired or
 *   revoked, and not superseded by a newer one), as counted for `bruteForceLimit`; message
 *   {@link UnknownTokenMessage}: no token, no id, no address.
 * Cache hits, misses and invalidations are read from `SessionManager.cacheStats()`.
 */
import { channel } from 'node:diagnostics_channel';
import type { SessionStore } from './store.js';

export { STORE_CHANNEL, type StoreCallContext } from './reporting-store.js';

/** The message of `tessera:unknown-token`. */
export interface UnknownTokenMessage {
  /** The manager's store object: tells one manager's tokens from another's in the same process. */
  source: SessionStore;
}

export const UNKNOWN_TOKEN_CHANNEL = 'tessera:unknown-token';
const unknownTokens = channel(UNKNOWN_TOKEN_CHANNEL);

/** Publishes one unknown token, only when someone listens. */
export function publishUnknownToken(source: SessionStore): void {
  if (unknownTokens.hasSubscribers) unknownTokens.publish({ source } satisfies UnknownTokenMessage);
}
