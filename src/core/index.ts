/**
 * `tessera-session`: the application's API. The manager and a request's session, their options,
 * events and errors, the value codecs and encryption, and the cookie helpers an adapter is
 * written with. A store is written with `tessera-session/store-kit`; tests use
 * `tessera-session/testing`.
 *
 * @module tessera-session
 */
export { SessionManager, type SessionRequest, type ListOptions, type SessionListPage, type SessionQueryOptions } from './manager.js';
export { Session, type LoginOptions } from './session.js';
export type { SessionData, DefaultSessionData, SessionKey, CounterKey } from './session-data.js';
export { defaultOptions, type SessionManagerOptions, type CookieOptions, type ResolvedOptions } from './options.js';
export type { AdoptedSession, SessionAdopter } from './adopt.js';
export type { StoreOperation } from './reporting-store.js';
export type { CacheStats } from './cache.js';
export { cachedStore } from './cache-registry.js';
export { defaultCacheOptions, type CacheOptions, type ResolvedCacheOptions } from './cache-options.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { jsonCodec, type ValueCodec, type CodecContext } from './codec.js';
export { encryptionCodec, parseKeyRing, generateKey, UnreadableValueError, type EncryptionKey } from './encryption.js';
export { readCookies, serializeCookie, readBearer, type CookieAttributes, type SameSite } from './cookie.js';
export {
  sessionCookieName,
  createSessionCookie,
  createBlankSessionCookie,
  sessionCookieHeaders,
  isBlankCookie,
  setCookiesAfterError,
  type SessionCookieOptions,
  type SessionCookieHeaders,
} from './session-cookie.js';
export { isSessionId } from './token.js';
export type { SessionInfo, SessionEvent, SessionEventType, RevokeReason, EventOf, DeliveryOutcome } from './events.js';
export * from './errors.js';
export {
  hasSessionIndex,
  hasInvalidationSource,
  hasSharedCounters,
  type InvalidationListener,
  type InvalidationSource,
  type InvalidationSubscription,
  type SharedCounters,
  type SessionStore,
  type SessionIndex,
  type SessionRecord,
  type RemovedSession,
  type DeviceInfo,
  type JsonValue,
} from './store.js';
export {
  hasSessionOutbox,
  type EndReason,
  type NoticeRequest,
  type NoticeType,
  type SessionNotice,
  type SessionOutbox,
  type OutboxHolder,
  type SessionNotifier,
  type NotifierContext,
} from './outbox.js';
