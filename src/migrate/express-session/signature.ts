/**
 * express-session's signed cookie: `s:` + id + `.` + the base64 HMAC-SHA256 of the id without its
 * `=` padding (the `cookie-signature` package), URL-encoded by the `cookie` package when written.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A secret as express-session takes it: a string, or bytes. */
export type LegacySecret = string | Uint8Array;

/** Longer ids than this are no express-session id (its own are 32 characters); refused unread. */
const MAX_ID_LENGTH = 512;

/** The signature of `id` under `secret`, as `cookie-signature` writes it. */
export function signatureOf(id: string, secret: LegacySecret): string {
  return createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
}

/** The cookie value express-session would send for `id` signed with `secret` (for tests and tools). */
export function signCookie(id: string, secret: LegacySecret): string {
  return encodeURIComponent(`s:${id}.${signatureOf(id, secret)}`);
}

/** Decodes a cookie value as the `cookie` package does: percent-decoded when it has a `%`, as it is when that fails. */
function decode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The session id a signed express-session cookie value carries, when one of `secrets` signed it;
 * null for an unsigned, malformed or forged value. Every secret is tried (rotation: the newest
 * signs, older ones still verify), each compared in constant time.
 */
export function unsignCookie(value: string, secrets: readonly LegacySecret[]): string | null {
  const text = decode(value);
  if (!text.startsWith('s:')) return null;
  const dot = text.lastIndexOf('.');
  if (dot <= 2) return null;
  const id = text.slice(2, dot);
  if (id.length > MAX_ID_LENGTH) return null;
  const given = Buffer.from(text.slice(dot + 1));
  let valid = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signatureOf(id, secret));
    // Every secret is checked, so the time taken does not say which one matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid ? id : null;
}
