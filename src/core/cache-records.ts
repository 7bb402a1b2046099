/** What the cache does to the records it holds: copies them, sizes them, orders them. */
import type { JsonValue, SessionRecord } from './store.js';

/** Bytes counted for a record besides its strings and data: its object, fields and the map entry. */
const RECORD_OVERHEAD = 400;

export function estimateBytes(record: SessionRecord): number {
  let chars = record.id.length + record.secretHash.length + (record.previousSecretHash?.length ?? 0);
  chars += (record.subject?.length ?? 0) + (record.displayName?.length ?? 0);
  chars += (record.createdDevice.userAgent?.length ?? 0) + (record.createdDevice.ip?.length ?? 0);
  chars += (record.lastDevice.userAgent?.length ?? 0) + (record.lastDevice.ip?.length ?? 0);
  return RECORD_OVERHEAD + 2 * chars + 2 * JSON.stringify(record.data).length;
}

/**
 * A copy sharing nothing a caller could change with the entry: the app may change a value it got
 * from a session (`session.get('cart').push(item)`), and one request's change must never reach
 * another's. Primitive values, the usual case, are not copied.
 */
export function copyRecord(record: SessionRecord): SessionRecord {
  const data = Object.create(null) as Record<string, JsonValue>;
  for (const field in record.data) {
    const value = record.data[field] as JsonValue;
    data[field] = value !== null && typeof value === 'object' ? structuredClone(value) : value;
  }
  return { ...record, data, createdDevice: { ...record.createdDevice }, lastDevice: { ...record.lastDevice } };
}

/** Whether `candidate` is older than `held`: a slow answer must not replace a newer one. */
export function older(candidate: SessionRecord, held: SessionRecord): boolean {
  return candidate.version < held.version || (candidate.version === held.version && candidate.lastSeenAt < held.lastSeenAt);
}
