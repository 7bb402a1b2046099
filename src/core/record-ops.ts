/**
 * The store contract's semantics as plain functions over records, for stores written in
 * TypeScript (memory, SQLite). Stores in other languages (Lua, SQL) implement the same rules.
 */
import { expiresAt, isTouchDue, type TouchPolicy } from './expiry.js';
import type { ChangeSet, DeviceInfo, JsonValue, SessionRecord } from './store.js';

/**
 * Stored hashes compared in time that depends on their length only, never on where they differ.
 * Character by character, without the two Buffers `timingSafeEqual` needs: it runs on every load.
 */
export function hashesEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** Whether a presented secret's hash opens the record at `now`: the current one, or the previous one during its grace period. */
export function secretAccepted(record: SessionRecord, secretHash: string, now: number): boolean {
  if (hashesEqual(secretHash, record.secretHash)) return true;
  const previous = record.previousSecretHash;
  return typeof previous === 'string' && now < (record.previousSecretExpiresAt ?? 0) && hashesEqual(secretHash, previous);
}

/** The record after a touch at `now`, or the same record when no touch is due. */
export function touched(
  record: SessionRecord,
  now: number,
  policy: TouchPolicy | undefined,
  device: DeviceInfo | undefined,
): SessionRecord {
  if (policy === undefined || !isTouchDue(record, now, policy)) return record;
  return {
    ...record,
    lastSeenAt: now,
    expiresAt: expiresAt(now, record.idleTimeout, record.absoluteExpiresAt),
    lastDevice: device ? { ...device } : record.lastDevice,
  };
}

/** The value a counter holds: an increment treats an absent or non-integer field as 0. */
export function integerOrZero(value: JsonValue | undefined): number {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : 0;
}

/**
 * The record after a change set: deletes, then sets, then increments; version bumped. Built field
 * by field (no spread, no `Object.entries`): stores call it on every save.
 */
export function applyChangeSet(record: SessionRecord, changes: ChangeSet): SessionRecord {
  const data = Object.create(null) as Record<string, JsonValue>;
  const source = record.data;
  for (const key in source) data[key] = source[key] as JsonValue;
  if (changes.delete !== undefined) for (const key of changes.delete) delete data[key];
  const set = changes.set;
  if (set !== undefined) for (const key in set) if (Object.hasOwn(set, key)) data[key] = set[key] as JsonValue;
  const increment = changes.increment;
  if (increment !== undefined) {
    for (const key in increment) if (Object.hasOwn(increment, key)) data[key] = integerOrZero(data[key]) + (increment[key] as number);
  }
  const lastSeenAt = changes.lastSeenAt !== undefined && changes.lastSeenAt > record.lastSeenAt ? changes.lastSeenAt : record.lastSeenAt;
  const idleTimeout = changes.idleTimeout ?? record.idleTimeout;
  const renewal = changes.renewSecret;
  const lastDevice = changes.lastDevice;
  return {
    id: record.id,
    secretHash: renewal === undefined ? record.secretHash : renewal.secretHash,
    subject: record.subject,
    displayName: changes.displayName !== undefined ? changes.displayName : record.displayName,
    createdAt: record.createdAt,
    lastSeenAt,
    idleTimeout,
    absoluteExpiresAt: record.absoluteExpiresAt,
    expiresAt: expiresAt(lastSeenAt, idleTimeout, record.absoluteExpiresAt),
    authenticatedAt: record.authenticatedAt,
    version: record.version + 1,
    data,
    createdDevice: record.createdDevice,
    lastDevice: lastDevice === undefined ? record.lastDevice : { ip: lastDevice.ip, userAgent: lastDevice.userAgent },
    renewedAt: renewal === undefined ? record.renewedAt : renewal.renewedAt,
    previousSecretHash: renewal === undefined ? record.previousSecretHash : renewal.previousSecretHash,
    previousSecretExpiresAt: renewal === undefined ? record.previousSecretExpiresAt : renewal.previousSecretExpiresAt,
  };
}
