/** An express-session record as tessera takes it over: the subject, the data, and when it would have ended. */
import type { AdoptedSession } from '../../core/adopt.js';
import { InvalidOptionError } from '../../core/errors.js';

/** A record's fields, without a prototype so that keys like `__proto__` are plain data. */
type Fields = Record<string, unknown>;

const SEGMENT = /^[^.\s]{1,128}$/;

/** `'passport.user'` as its segments; refuses an empty or malformed path at construction. */
export function parseFieldPath(path: string): readonly string[] {
  const segments = typeof path === 'string' ? path.split('.') : [];
  if (segments.length === 0 || segments.length > 8 || !segments.every((segment) => SEGMENT.test(segment)))
    throw new InvalidOptionError(`subject must be a dotted field path such as passport.user or userId, got ${JSON.stringify(path)}`);
  return segments;
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parse(text: string): Fields | null {
  try {
    const value: unknown = JSON.parse(text);
    return isFields(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Takes the field at `path` out of `fields` (a copy where it changes), dropping each object the
 * removal leaves empty; answers the value and what is left.
 */
function takeField(fields: Fields, path: readonly string[]): { value: unknown; rest: Fields } {
  const [head, ...tail] = path as [string, ...string[]];
  if (!Object.hasOwn(fields, head)) return { value: undefined, rest: fields };
  const rest: Fields = { ...fields };
  if (tail.length === 0) {
    delete rest[head];
    return { value: fields[head], rest };
  }
  const inner = fields[head];
  if (!isFields(inner)) return { value: undefined, rest: fields };
  const taken = takeField(inner, tail);
  if (Object.keys(taken.rest).length === 0) delete rest[head];
  else rest[head] = taken.rest;
  return { value: taken.value, rest };
}

/** The subject a field holds: a string, or a whole number as passport serialises ids; null for anything else. */
function subjectOf(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}

/**
 * The session to adopt from a stored express-session record, or null when there is nothing to
 * adopt: unreadable, expired, or anonymous with no data. Its expiry is the earlier of the store's
 * (`remainingMs` from `now`) and the cookie's own `expires`.
 */
export function fromLegacy(
  text: string,
  path: readonly string[],
  now: number,
  remainingMs: number | null,
): Pick<AdoptedSession, 'subject' | 'data' | 'expiresAt'> | null {
  const record = parse(text);
  if (record === null) return null;
  const { cookie, ...fields } = record;
  const cookieExpires = isFields(cookie) && typeof cookie.expires === 'string' ? Date.parse(cookie.expires) : Number.NaN;
  const expiresAt = Math.min(
    remainingMs === null ? Number.POSITIVE_INFINITY : now + remainingMs,
    Number.isNaN(cookieExpires) ? Number.POSITIVE_INFINITY : cookieExpires,
  );
  if (!(expiresAt > now)) return null;
  const { value, rest } = takeField(fields, path);
  const subject = subjectOf(value);
  // A field that is no user id stays data, as it was.
  const data = subject === null ? fields : rest;
  if (subject === null && Object.keys(data).length === 0) return null;
  return { subject, data, expiresAt };
}
