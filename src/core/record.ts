import { expiresAt } from './expiry.js';
import type { DeviceInfo, JsonValue, SessionRecord } from './store.js';

/** What a new record is made of; everything else follows from it. */
export interface NewRecordFields {
  /** From the issued token. */
  id: string;
  /** From the issued token: the stored hash of its secret. */
  secretHash: string;
  /** When the record is made: its `lastSeenAt` and `renewedAt`, and its `createdAt` unless given. */
  now: number;
  /** Sliding timeout in seconds. */
  idleTimeout: number;
  /** When the session ends whatever its activity. */
  absoluteExpiresAt: number;
  /** The device of this request: the record's `lastDevice`, and its `createdDevice` unless given. */
  device: DeviceInfo;
  /** @default null (anonymous) */
  subject?: string | null;
  /** @default null */
  displayName?: string | null;
  /** Kept across a login or rotation that replaces a session. @default now */
  createdAt?: number;
  /** @default null */
  authenticatedAt?: number | null;
  /** Kept across a login or rotation that replaces a session. @default device */
  createdDevice?: DeviceInfo;
  /** Already encoded by the value codec. @default {} */
  data?: Record<string, JsonValue>;
}

/**
 * A session record at version 1, as the core creates it (anonymous first write, login, rotation)
 * and as the conformance suite makes them: one place that knows all of a record's fields.
 */
export function newRecord(fields: NewRecordFields): SessionRecord {
  const { now, idleTimeout, absoluteExpiresAt, device } = fields;
  return {
    id: fields.id,
    secretHash: fields.secretHash,
    subject: fields.subject ?? null,
    displayName: fields.displayName ?? null,
    createdAt: fields.createdAt ?? now,
    lastSeenAt: now,
    idleTimeout,
    absoluteExpiresAt,
    expiresAt: expiresAt(now, idleTimeout, absoluteExpiresAt),
    authenticatedAt: fields.authenticatedAt ?? null,
    version: 1,
    data: fields.data ?? {},
    createdDevice: { ...(fields.createdDevice ?? device) },
    lastDevice: { ...device },
    renewedAt: now,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
  };
}

/**
 * The record as a literal with its properties in `newRecord`'s order. A store that assembles a
 * record field by field (from a Redis hash, say) returns it through this, so that the records
 * the core handles share one shape and its hot paths stay monomorphic.
 */
export function recordInOrder(record: SessionRecord): SessionRecord {
  return {
    id: record.id,
    secretHash: record.secretHash,
    subject: record.subject,
    displayName: record.displayName,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    idleTimeout: record.idleTimeout,
    absoluteExpiresAt: record.absoluteExpiresAt,
    expiresAt: record.expiresAt,
    authenticatedAt: record.authenticatedAt,
    version: record.version,
    data: record.data,
    createdDevice: record.createdDevice,
    lastDevice: record.lastDevice,
    renewedAt: record.renewedAt,
    previousSecretHash: record.previousSecretHash,
    previousSecretExpiresAt: record.previousSecretExpiresAt,
  };
}
