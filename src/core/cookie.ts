/**
 * Cookie reading and writing per RFC 6265. The reader never throws and never decodes `%`
 * sequences: a tessera token is plain base64url, so anything else is simply not a token.
 */

/** Headers longer than this are read only up to here; browsers cap a cookie header near 8 KB. */
const MAX_HEADER_LENGTH = 16 * 1024;
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// cookie-octet: printable ASCII except space, DQUOTE, comma, semicolon and backslash.
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/**
 * Returns every value sent under `name`, in header order. Browsers send the most specific
 * path first, and a duplicated name is a sign of a planted cookie, so callers decide.
 */
export function readCookies(header: string | undefined | null, name: string): string[] {
  if (typeof header !== 'string' || header.length === 0) return [];
  const text = header.length > MAX_HEADER_LENGTH ? header.slice(0, MAX_HEADER_LENGTH) : header;
  const values: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(';', start);
    if (end === -1) end = text.length;
    const eq = text.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const key = text.slice(start, eq).trim();
      if (key === name) {
        let value = text.slice(eq + 1, end).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        values.push(value);
      }
    }
    start = end + 1;
  }
  return values;
}

/** When the browser sends the cookie with a request from another site: `'lax'` on top-level navigations only, `'strict'` never. */
export type SameSite = 'lax' | 'strict';

/** The attributes of one `Set-Cookie` value. */
export interface CookieAttributes {
  /** Seconds until the browser drops the cookie; 0 deletes it. */
  maxAge: number;
  /** Sent over HTTPS only. */
  secure: boolean;
  /** When the browser sends it with a request from another site. */
  sameSite: SameSite;
  /** Hidden from scripts in the page. */
  httpOnly: boolean;
  /** The paths it is sent to; starts with `/`. */
  path: string;
  /** The domain it is shared with; absent for a host-only cookie (which `__Host-` requires). */
  domain?: string;
}

/** Builds one `Set-Cookie` value. Throws on a name or value a browser would mangle. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  if (!COOKIE_NAME.test(name)) throw new TypeError(`invalid cookie name: ${JSON.stringify(name)}`);
  if (!COOKIE_VALUE.test(value)) throw new TypeError('invalid cookie value');
  if (!Number.isSafeInteger(attributes.maxAge) || attributes.maxAge < 0) throw new TypeError('Max-Age must be a non-negative integer');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what a cookie path must not hold
  if (!attributes.path.startsWith('/') || /[;\x00-\x1f\x7f]/.test(attributes.path)) throw new TypeError('invalid cookie path');
  let cookie = `${name}=${value}; Max-Age=${attributes.maxAge}; Path=${attributes.path}`;
  if (attributes.domain !== undefined) {
    if (!/^[A-Za-z0-9.-]+$/.test(attributes.domain)) throw new TypeError('invalid cookie domain');
    cookie += `; Domain=${attributes.domain}`;
  }
  if (attributes.maxAge === 0) cookie += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (attributes.httpOnly) cookie += '; HttpOnly';
  if (attributes.secure) cookie += '; Secure';
  cookie += attributes.sameSite === 'strict' ? '; SameSite=Strict' : '; SameSite=Lax';
  return cookie;
}

/** Extracts the token of an `Authorization: Bearer` header, or null. */
export function readBearer(header: string | undefined | null): string | null {
  if (typeof header !== 'string' || header.length > 1024) return null;
  const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
  return match?.[1] ?? null;
}
