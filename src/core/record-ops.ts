/**
 * The store contract's semantics as plain functions over records, for stores written in
 * TypeScript (memory, SQLite). Stores in other languages (Lua, SQL) implement the same rules.
 */
import { timingSafeEqual } from 'node:crypto';
import { expiresAt, isTouchDue, type TouchPolicy } from './expiry.js';
import type { ChangeSet, DeviceInfo, JsonValue, SessionRecord } from './store.js';

/** Stored hashes compared without leaking where they differ. */
export function hashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Whether a presented secret's hash opens the record at `now`: the current one, or the previous one during its grace period. */
export function secretAccepted(record: SessionRecord, secretHash: string, now: number): boolean {
  if (hashesEqual(secretHash, record.secretHash)) return true;
  const previous = record.previousSecretHash;
  return typeof previous === 'string' && now < (record.previousSecretExpiresAt ?? 0) && hashesEqual(secretHash, previous);
}

/** The record after a touch at `now`, or the same record when no touch is due. */
export function touched(record: SessionRecord, now: number, policy: TouchPolicy | undefined, device: DeviceInfo | undefined): SessionRecord {
  if (policy === undefined || !isTouchDue(record, now, policy)) return record;
  return {
    ...record,
    lastSeenAt: now,
    expiresAt: expiresAt(now, record.idleTimeout, record.absoluteExpiresAt),
    lastDevice: device ? { ...device } : record.lastDevice,
  };
}

function integerOrZero(value: JsonValue | undefined): number {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : 0;
}

/** The record after a change set: deletes, then sets, then increments; version bumped. */
export function applyChangeSet(record: SessionRecord, changes: ChangeSet): SessionRecord {
  const data: Record<string, JsonValue> = Object.assign(Object.create(null) as Record<string, JsonValue>, record.data);
  for (const key of changes.delete ?? []) delete data[key];
  if (changes.set) for (const [key, value] of Object.entries(changes.set)) data[key] = value;
  if (changes.increment) for (const [key, delta] of Object.entries(changes.increment)) data[key] = integerOrZero(data[key]) + delta;
  const lastSeenAt = Math.max(record.lastSeenAt, changes.lastSeenAt ?? record.lastSeenAt);
  const idleTimeout = changes.idleTimeout ?? record.idleTimeout;
  const next: SessionRecord = {
    ...record,
    data,
    lastSeenAt,
    idleTimeout,
    expiresAt: expiresAt(lastSeenAt, idleTimeout, record.absoluteExpiresAt),
    lastDevice: changes.lastDevice ? { ...changes.lastDevice } : record.lastDevice,
    displayName: changes.displayName !== undefined ? changes.displayName : record.displayName,
    version: record.version + 1,
  };
  const renewal = changes.renewSecret;
  if (renewal !== undefined) {
    next.secretHash = renewal.secretHash;
    next.renewedAt = renewal.renewedAt;
    next.previousSecretHash = renewal.previousSecretHash;
    next.previousSecretExpiresAt = renewal.previousSecretExpiresAt;
  }
  return next;
}

/** Which of a subject's live sessions (oldest first) must go so that one more fits under `max`. */
export function sessionsToEvict<T extends { createdAt: number; id: string }>(live: T[], max: number): T[] {
  const excess = live.length - max + 1;
  if (excess <= 0) return [];
  return [...live].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).slice(0, excess);
}
