/**
 * The session cookie and the rules a response that carries it follows, with no framework in
 * sight: an adapter only copies the values these return into its framework's response.
 */
import { serializeCookie, type SameSite } from './cookie.js';

/** How the session cookie is written for one request. */
export interface SessionCookieOptions {
  /** The configured name; `__Host-` is put in front of it when the cookie is Secure. */
  name: string;
  /** Whether the cookie is Secure: the request came over HTTPS, or `cookie.secure` is `true`. */
  secure: boolean;
  /** Whether the browser sends it on cross-site requests: `'lax'` on top-level navigations only, `'strict'` never. */
  sameSite: SameSite;
}

/** The headers a response that sets or clears the session cookie ends with. */
export interface SessionCookieHeaders {
  /** Every `Set-Cookie` value of the response, the session cookie's exactly once. */
  'set-cookie': string[];
  /** No cache may store a response that carries a token. */
  'cache-control': 'no-store';
}

/**
 * The session cookie's name. A Secure cookie gets the `__Host-` prefix, with which the browser
 * refuses it unless it is Secure, host-only and `Path=/`: no subdomain or plain-HTTP page can
 * plant a cookie of that name. Without Secure the prefix would make the browser drop the cookie.
 */
export function sessionCookieName(name: string, secure: boolean): string {
  return secure ? `__Host-${name}` : name;
}

/**
 * The `Set-Cookie` value that gives the browser `token` for `maxAge` seconds (the core gives the
 * seconds to the session's absolute expiry, rounded up so the cookie never dies first): HttpOnly,
 * so no script reads it; `Path=/` and no `Domain`, as `__Host-` requires.
 */
export function createSessionCookie(options: SessionCookieOptions, token: string, maxAge: number): string {
  return serializeCookie(sessionCookieName(options.name, options.secure), token, {
    maxAge,
    secure: options.secure,
    sameSite: options.sameSite,
    httpOnly: true,
    path: '/',
  });
}

/**
 * The `Set-Cookie` value that deletes the session cookie: empty, `Max-Age=0`, and an `Expires`
 * in the past for clients that predate `Max-Age`. It carries the session cookie's attributes,
 * without which a browser would not match (and so not delete) a `__Host-` cookie.
 */
export function createBlankSessionCookie(options: SessionCookieOptions): string {
  return createSessionCookie(options, '', 0);
}

/**
 * The headers of a response that sets the session cookie `setCookie`, given its `Set-Cookie`
 * values so far (`existing`). A cookie of the same name set earlier in the response is dropped:
 * a request that logs in and then rotates sends the last token only, and a browser would apply
 * two values in an order no standard fixes. `Cache-Control: no-store` keeps every cache from
 * storing a response that carries a token.
 */
export function sessionCookieHeaders(existing: string | readonly string[] | null | undefined, setCookie: string): SessionCookieHeaders {
  const prefix = setCookie.slice(0, setCookie.indexOf('=') + 1);
  const values = existing === undefined || existing === null ? [] : typeof existing === 'string' ? [existing] : existing;
  return { 'set-cookie': [...values.filter((value) => !value.startsWith(prefix)), setCookie], 'cache-control': 'no-store' };
}

/** Whether the `Set-Cookie` value `setCookie` deletes its cookie, as `createBlankSessionCookie`'s does. */
export function isBlankCookie(setCookie: string): boolean {
  return /^[^=;]*=; Max-Age=0;/.test(setCookie);
}

/**
 * The `Set-Cookie` values an error answer carries, given those set before the error (`existing`)
 * and the error's own (`errorResponse`'s `set-cookie`, which replaces one of the same name). A
 * session cookie that hands out a token (a login or first write before the error) is dropped: the
 * request failed, and that session is left to expire unused. One that clears the session cookie
 * (a stale token, a logout) stays, or the browser would keep sending a dead token; so do the
 * values `isSessionCookie` says are not the session's (the app's own), by default none.
 */
export function setCookiesAfterError(
  existing: readonly string[],
  errorSetCookie: string | undefined,
  isSessionCookie: (setCookie: string) => boolean = () => true,
): string[] {
  const kept = existing.filter((value) => !isSessionCookie(value) || isBlankCookie(value));
  return errorSetCookie === undefined ? kept : sessionCookieHeaders(kept, errorSetCookie)['set-cookie'];
}
