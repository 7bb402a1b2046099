/**
 * `tessera-session/store-kit`: what a session store is written with, in one place. The contract and the
 * record rules come from the core (re-exported here, so a store imports nothing else of tessera);
 * the rest are the pieces every store here shares: loading its driver, capabilities with defaults,
 * the orders, paging and cursors, what a query matches, what a removal reports, and the SQL stores'
 * column map.
 * Imports go one way: the core knows nothing of this module, stores build on it.
 *
 * @module tessera-session/store-kit
 */
export {
  hasSessionIndex,
  hasSubjectPartitions,
  hasInvalidationSource,
  hasSharedCounters,
  type InvalidationListener,
  type InvalidationSource,
  type InvalidationSubscription,
  type SharedCounters,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type DeviceInfo,
  type JsonValue,
  type LoadOptions,
  type RemovedSession,
  type SessionIndex,
  type SessionLimit,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type SubjectPartitions,
} from '../core/store.js';
export {
  hasSessionOutbox,
  noticeId,
  endedNotices,
  type EndReason,
  type NoticeRequest,
  type NoticeType,
  type SessionNotice,
  type SessionOutbox,
  type OutboxHolder,
} from '../core/outbox.js';
export { newRecord, recordInOrder, type NewRecordFields } from '../core/record.js';
export { applyChangeSet, hashesEqual, secretAccepted, touched } from '../core/record-ops.js';
export { expiresAt, isLive, isTouchDue, touchIntervalMs, type TouchPolicy } from '../core/expiry.js';
export { BadRequestError, InvalidOptionError, StoreUnavailableError } from '../core/errors.js';
export { ID_SHARDS, PARTITION_LENGTH, SHARD_LENGTH, isSessionId, keyedPartition, partitionOfId, unkeyedPartition } from '../core/token.js';

export { CAPABILITY_DEFAULTS, defineCapabilities } from './capabilities.js';
export { describeNetworkError, loadDriver } from './driver.js';
export { compareById, compareCreation, compareIds, type CreationKey } from './compare.js';
export { listingCursor, listingPage, lookahead, pageOf, pageSize, parseListingCursor, queryCursor, queryPage } from './paging.js';
export { matchesQuery, querySql, type SqlQueryDialect } from './query-filter.js';
export { removedSession, removedSessions } from './removed.js';
export { SESSION_COLUMNS, SESSION_COLUMN_LIST, parseData, recordFromRow, rowValues, type SessionRow, type SqlType } from './sql-columns.js';
