/**
 * What the manager is asked with, and what its listings answer: the types an adapter or an app
 * names, and how a request's own fields are checked and cut to size.
 */
import { BadRequestError } from './errors.js';
import type { SessionInfo } from './events.js';
import type { DeviceInfo } from './store.js';

const MAX_USER_AGENT = 512;
const MAX_IP = 64;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** What the core needs to know about an incoming request; adapters fill it in. */
export interface SessionRequest {
  /** The raw `Cookie` header. */
  cookie?: string | null | undefined;
  /** The raw `Authorization` header (read only when `bearer` is on). */
  authorization?: string | null | undefined;
  /** Whether the request reached the app over HTTPS. */
  secure: boolean;
  /** The client's address, as the framework resolved it behind its proxies; recorded on the session (cut to 64 characters) and keys the per-address limits. */
  ip?: string | null | undefined;
  /** The `User-Agent` header, recorded on the session (cut to 512 characters). */
  userAgent?: string | null | undefined;
  /**
   * Receives the `Set-Cookie` value whenever the session cookie must be set or cleared, possibly
   * more than once per request: `sessionCookieHeaders` gives the response headers that follow.
   */
  setCookie?: ((value: string) => void) | undefined;
  /**
   * The request's `Idempotency-Key` header: its writes are applied once, however often the
   * request is retried with the same key within `idempotencyWindow`. At most 200 printable ASCII
   * characters; anything else is a `BadRequestError`.
   */
  idempotencyKey?: string | null | undefined;
}

/** A page of `SessionManager.list`. */
export interface ListOptions {
  /** A previous page's `nextCursor`; null or absent for the first page. */
  cursor?: string | null;
  /** @default 50 (at most 1000) */
  limit?: number;
  /** The session to flag `current`. */
  currentId?: string | null;
}

/** A page of a user's sessions, from `SessionManager.list` or `Session.listSessions`. */
export interface SessionListPage {
  /** Oldest first; `current` flags the session named `currentId` (for `listSessions`, the request's own). */
  sessions: Array<SessionInfo & { current: boolean }>;
  /** Null on the last page. */
  nextCursor: string | null;
}

/** What `SessionManager.query` matches: every filter given. */
export interface SessionQueryOptions {
  /** Only this user's sessions. */
  subject?: string;
  /** Display names starting with this text (case-sensitive). */
  displayNamePrefix?: string;
  /** Only the session with this public id. */
  id?: string;
  /** A previous page's `nextCursor`; null or absent for the first page. */
  cursor?: string | null;
  /** @default 50 */
  limit?: number;
}

function clip(value: string | null | undefined, max: number): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  return value.length > max ? value.slice(0, max) : value;
}

/** Where a request comes from, as recorded on its session: the address and the User-Agent, cut to size. */
export function deviceOf(request: SessionRequest): DeviceInfo {
  return { ip: clip(request.ip, MAX_IP), userAgent: clip(request.userAgent, MAX_USER_AGENT) };
}

/** The request's Idempotency-Key, or null; a malformed one is the client's mistake (400). */
export function idempotencyKey(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (!IDEMPOTENCY_KEY.test(value)) throw new BadRequestError('Idempotency-Key must be 1 to 200 printable ASCII characters');
  return value;
}
