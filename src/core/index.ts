export { SessionManager, type SessionRequest, type SessionQueryOptions } from './manager.js';
export { Session, type LoginOptions } from './session.js';
export { defaultOptions, type SessionManagerOptions, type CookieOptions, type ResolvedOptions } from './options.js';
export type { StoreOperation } from './reporting-store.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { jsonCodec, type ValueCodec, type CodecContext } from './codec.js';
export { readCookies, serializeCookie, readBearer, type CookieAttributes, type SameSite } from './cookie.js';
export {
  sessionCookieName,
  createSessionCookie,
  createBlankSessionCookie,
  sessionCookieHeaders,
  type SessionCookieOptions,
  type SessionCookieHeaders,
} from './session-cookie.js';
export { expiresAt, isLive, isTouchDue, touchIntervalMs, cookieMaxAge, type TouchPolicy } from './expiry.js';
export {
  issueToken,
  renewToken,
  parseToken,
  hashSecret,
  keyedPartition,
  unkeyedPartition,
  partitionOfId,
  isSessionId,
  ID_SHARDS,
  SHARD_LENGTH,
  PARTITION_LENGTH,
  type IssuedToken,
  type ParsedToken,
} from './token.js';
export { toSessionInfo, type SessionInfo, type SessionEvent, type SessionEventType, type RevokeReason, type EventOf } from './events.js';
export * from './errors.js';
export {
  hasSessionIndex,
  hasSubjectPartitions,
  type SubjectPartitions,
  type SessionStore,
  type SessionIndex,
  type SessionRecord,
  type RemovedSession,
  type DeviceInfo,
  type JsonValue,
  type ChangeSet,
  type ApplyOptions,
  type ApplyResult,
  type CreateOptions,
  type CreateResult,
  type LoadOptions,
  type SessionLimit,
  type SessionQuery,
  type SessionPage,
  type StoreCapabilities,
} from './store.js';
export { newRecord, type NewRecordFields } from './record.js';
export { applyChangeSet, touched, hashesEqual, secretAccepted, sessionsToEvict } from './record-ops.js';
export { encryptionCodec, parseKeyRing, generateKey, UnreadableValueError, type EncryptionKey } from './encryption.js';
