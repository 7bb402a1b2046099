/**
 * The row ⇄ record map of the SQL stores: one column per record field (the two devices are four
 * columns, `data` is JSON), the same names in SQLite and PostgreSQL, so indexes can serve listing,
 * counting, searching and the expiry sweep. Each store keeps its own DDL; this is what its
 * statements read and write.
 */
import type { JsonValue, SessionRecord } from '../core/store.js';

/** A column's type as a cast names it; a store maps `json` to its own (`jsonb`, `TEXT`). */
export type SqlType = 'text' | 'bigint' | 'integer' | 'json';

/** Every column, in the order of `rowValues`. Times are ms since the epoch, `idle_timeout` seconds. */
export const SESSION_COLUMNS: ReadonlyArray<{
  /** The column's name, the same in every SQL store. */
  readonly name: string;
  /** Its type, for casts. */
  readonly type: SqlType;
}> = Object.freeze([
  { name: 'id', type: 'text' },
  { name: 'secret_hash', type: 'text' },
  { name: 'subject', type: 'text' },
  { name: 'display_name', type: 'text' },
  { name: 'created_at', type: 'bigint' },
  { name: 'last_seen_at', type: 'bigint' },
  { name: 'idle_timeout', type: 'integer' },
  { name: 'absolute_expires_at', type: 'bigint' },
  { name: 'expires_at', type: 'bigint' },
  { name: 'authenticated_at', type: 'bigint' },
  { name: 'version', type: 'integer' },
  { name: 'data', type: 'json' },
  { name: 'created_ip', type: 'text' },
  { name: 'created_user_agent', type: 'text' },
  { name: 'last_ip', type: 'text' },
  { name: 'last_user_agent', type: 'text' },
  { name: 'renewed_at', type: 'bigint' },
  { name: 'previous_secret_hash', type: 'text' },
  { name: 'previous_secret_expires_at', type: 'bigint' },
] as const);

/** `SESSION_COLUMNS` for a `SELECT` or an `INSERT`. */
export const SESSION_COLUMN_LIST = SESSION_COLUMNS.map((column) => column.name).join(', ');

/**
 * A row as a driver returns it. Numbers may come as strings (PostgreSQL's `bigint`), `data` as
 * text (SQLite) or already parsed (PostgreSQL's `jsonb`), and `renewed_at` as null in a SQLite
 * table made before renewals existed.
 */
export interface SessionRow {
  /** `id`: the public id. */
  id: string;
  /** `secretHash`: the stored hash of the secret. */
  secret_hash: string;
  /** `subject`: the user id; null while anonymous. */
  subject: string | null;
  /** `displayName`: the display name. */
  display_name: string | null;
  /** `createdAt`: ms since the epoch. */
  created_at: number | string;
  /** `lastSeenAt`: ms since the epoch. */
  last_seen_at: number | string;
  /** `idleTimeout`: seconds. */
  idle_timeout: number | string;
  /** `absoluteExpiresAt`: ms since the epoch. */
  absolute_expires_at: number | string;
  /** `expiresAt`: ms since the epoch; indexed for the sweep. */
  expires_at: number | string;
  /** `authenticatedAt`: ms since the epoch; null while anonymous. */
  authenticated_at: number | string | null;
  /** `version`: bumped by every change set. */
  version: number | string;
  /** `data`: JSON text (SQLite) or parsed (PostgreSQL `jsonb`). */
  data: string | Record<string, JsonValue>;
  /** `createdDevice.ip`. */
  created_ip: string | null;
  /** `createdDevice.userAgent`. */
  created_user_agent: string | null;
  /** `lastDevice.ip`. */
  last_ip: string | null;
  /** `lastDevice.userAgent`. */
  last_user_agent: string | null;
  /** `renewedAt`: ms since the epoch; null in a SQLite table made before renewals. */
  renewed_at: number | string | null;
  /** `previousSecretHash`: the hash a renewal replaced. */
  previous_secret_hash: string | null;
  /** `previousSecretExpiresAt`: the end of its grace period. */
  previous_secret_expires_at: number | string | null;
}

/** A record's values in `SESSION_COLUMNS` order, `data` as JSON text. */
export function rowValues(record: SessionRecord): unknown[] {
  return [
    record.id,
    record.secretHash,
    record.subject,
    record.displayName,
    record.createdAt,
    record.lastSeenAt,
    record.idleTimeout,
    record.absoluteExpiresAt,
    record.expiresAt,
    record.authenticatedAt,
    record.version,
    JSON.stringify(record.data),
    record.createdDevice.ip,
    record.createdDevice.userAgent,
    record.lastDevice.ip,
    record.lastDevice.userAgent,
    record.renewedAt,
    record.previousSecretHash,
    record.previousSecretExpiresAt,
  ];
}

/** Stored data read back. JSON.parse defines every key as an own data property, so "__proto__" stays plain data. */
export function parseData(text: string): Record<string, JsonValue> {
  const data = JSON.parse(text) as unknown;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new TypeError('stored session data is not a JSON object');
  return data as Record<string, JsonValue>;
}

function nullableNumber(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}

/** The record a row holds: numbers parsed, `data` parsed, the devices put back together. */
export function recordFromRow(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    subject: row.subject,
    displayName: row.display_name,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    idleTimeout: Number(row.idle_timeout),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    expiresAt: Number(row.expires_at),
    authenticatedAt: nullableNumber(row.authenticated_at),
    version: Number(row.version),
    data: typeof row.data === 'string' ? parseData(row.data) : row.data,
    createdDevice: { ip: row.created_ip, userAgent: row.created_user_agent },
    lastDevice: { ip: row.last_ip, userAgent: row.last_user_agent },
    // A row from before renewals: its secret is as old as the session.
    renewedAt: Number(row.renewed_at ?? row.created_at),
    previousSecretHash: row.previous_secret_hash,
    previousSecretExpiresAt: nullableNumber(row.previous_secret_expires_at),
  };
}
