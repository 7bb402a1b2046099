import { BadRequestError, type JsonValue, type SessionInfo, isSessionId } from '../core/index.js';

/** A data field as the API shows it: its name and its stored size, and its value only when asked. */
export interface AdminDataField {
  /** The field's name. */
  name: string;
  /** Bytes of its stored (encoded, maybe encrypted) JSON. */
  bytes: number;
  /** The decoded value; present only with `showData: true`. */
  value?: JsonValue;
}

/** A session as the admin API answers it: never a token or a secret hash. Times are ISO 8601. */
export interface AdminSession {
  /** Public id: safe to show and to revoke by. */
  id: string;
  /** The user id given to `login()`; null while anonymous. */
  subject: string | null;
  /** The name given to `login()`; null when none. */
  displayName: string | null;
  /** When the session was first stored. */
  createdAt: string;
  /** The last request that touched it (written at most once per touch interval). */
  lastSeenAt: string;
  /** When it ends unless used again. */
  expiresAt: string;
  /** When it ends whatever its activity. */
  absoluteExpiresAt: string;
  /** The address it was last used from. */
  ip: string | null;
  /** The `User-Agent` it was last used with. */
  userAgent: string | null;
  /** The address it was created from. */
  createdIp: string | null;
  /** The `User-Agent` it was created with. */
  createdUserAgent: string | null;
  /** Its data fields: names and sizes (values only with `showData`). */
  dataFields: AdminDataField[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Builds the answer field by field from the public `SessionInfo`, so that a field added to a
 * record (a secret hash, a token) can never reach an answer by accident.
 */
export function adminSession(
  info: Pick<
    SessionInfo,
    'id' | 'subject' | 'displayName' | 'createdAt' | 'lastSeenAt' | 'expiresAt' | 'absoluteExpiresAt' | 'createdDevice' | 'lastDevice'
  >,
  dataFields: AdminDataField[],
): AdminSession {
  return {
    id: info.id,
    subject: info.subject,
    displayName: info.displayName,
    createdAt: iso(info.createdAt),
    lastSeenAt: iso(info.lastSeenAt),
    expiresAt: iso(info.expiresAt),
    absoluteExpiresAt: iso(info.absoluteExpiresAt),
    ip: info.lastDevice.ip,
    userAgent: info.lastDevice.userAgent,
    createdIp: info.createdDevice.ip,
    createdUserAgent: info.createdDevice.userAgent,
    dataFields,
  };
}

// Cursors carry a prefix so that one this API did not issue (a raw session id, a cursor from
// another tool) is refused as a 400 rather than silently reinterpreted.
const CURSOR_PREFIX = 'tsa1.';

/** Wraps the manager's keyset cursor (a session id) into the API's opaque cursor. */
export function encodeCursor(cursor: string | null): string | null {
  return cursor === null ? null : CURSOR_PREFIX + Buffer.from(cursor, 'utf8').toString('base64url');
}

/** The manager's cursor inside an API cursor; a `BadRequestError` for one this API did not issue. */
export function decodeCursor(cursor: string): string {
  const bad = () => new BadRequestError('cursor is not one this API issued');
  if (!cursor.startsWith(CURSOR_PREFIX)) throw bad();
  const body = cursor.slice(CURSOR_PREFIX.length);
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(body)) throw bad();
  const inner = Buffer.from(body, 'base64url').toString('utf8');
  if (!isSessionId(inner)) throw bad();
  return inner;
}

/** Parses `limit`: an integer 1..200, 50 when absent. */
export function parseLimit(raw: string | null): number {
  if (raw === null) return 50;
  if (!/^\d{1,3}$/.test(raw)) throw new BadRequestError('limit must be an integer from 1 to 200');
  const limit = Number(raw);
  if (limit < 1 || limit > 200) throw new BadRequestError('limit must be an integer from 1 to 200');
  return limit;
}
