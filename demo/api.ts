/**
 * The demo's JSON API. Its shapes are a contract (tests and tools use them), so they are written
 * out here in one place:
 *
 *   POST   /api/login                  {username, ttl?}  → 200 {session: S, admin} and the cookie
 *   GET    /api/session                                  → 200 {session: S, admin} | 401
 *   GET    /api/session/store                            → 200 {store, kind, record, cache} (the stored record; cache:
 *                                                           null when off, else {servedFromCache: this request's, ...stats})
 *   POST   /api/session/increment      {field}           → 200 {field, value}
 *   PUT    /api/session/ttl            {ttl}             → 200 {session: S}
 *   PUT    /api/session/data/:field    {value}           → 200 {session: S} (value: a string of at most 1,024 characters)
 *   POST   /api/logout                                   → 204, cookie cleared
 *   GET    /api/sessions?cursor=&limit=                  → 200 {sessions: [...], nextCursor}
 *   DELETE /api/sessions/:id                             → 204 | 404
 *   POST   /api/sessions/revoke-others                   → 200 {revoked: N}
 *
 * S = {id, username, data, createdAt, lastSeenAt, expiresAt, absoluteExpiresAt, ttl}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BadRequestError,
  NoSessionError,
  NotFoundError,
  errorResponse,
  isSessionId,
  type Session,
  type SessionManager,
  type SessionRecord,
} from 'tessera-session';
import { isSecureRequest, loadSession, requestHost, setSessionCookie } from 'tessera-session/adapters/node';
import { readJson, sendError, sendJson } from './http.js';
import type { OpenedStore } from './store.js';

/** Largest JSON body the API reads; every valid request is far smaller. */
export const BODY_LIMIT = 4 * 1024;
export const MAX_TTL = 86_400;
export const MAX_VALUE_LENGTH = 1024;
/** Sessions per page of `GET /api/sessions`: the page shows the first page and a "more" button. */
export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;
/** Cursors are the store's, opaque here; anything longer or outside printable ASCII is not one. */
const CURSOR = /^[\x21-\x7e]{1,512}$/;
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const FIELD = /^[A-Za-z0-9_]{1,64}$/;

/**
 * Names a client may not use as data fields. The first group would shadow the keys of S on the
 * page; the second are the record's own fields (today's stores keep data apart from them, the
 * Redis store under a `d:` prefix, but a store that flattened a session into one hash would not);
 * the third are the reserved fields of the
 * Redis session guide this demo recreates. Prototype names (`__proto__`, `constructor`) are
 * allowed: the library keeps them as plain data. Compared case-insensitively, so `CreatedAt` is
 * refused too.
 */
export const RESERVED_FIELDS: readonly string[] = Object.freeze([
  'id',
  'username',
  'data',
  'createdAt',
  'lastSeenAt',
  'expiresAt',
  'absoluteExpiresAt',
  'ttl',
  'secretHash',
  'subject',
  'displayName',
  'idleTimeout',
  'authenticatedAt',
  'version',
  'createdDevice',
  'lastDevice',
  'renewedAt',
  'previousSecretHash',
  'previousSecretExpiresAt',
  'created_at',
  'last_accessed_at',
  'session_ttl',
]);
const RESERVED = new Set(RESERVED_FIELDS.map((name) => name.toLowerCase()));

export interface ApiContext {
  manager: SessionManager;
  store: OpenedStore;
  /** Proxy hops whose `X-Forwarded-*` headers are believed (`TESSERA_TRUST_PROXY`). */
  trustProxy: number;
  /** Usernames that may use `/admin/` (`TESSERA_ADMINS`); null when the console is off. */
  admins?: ReadonlySet<string> | null;
}

/** Whether the session's user may use the admin console: the page shows the link then. */
function isAdmin(session: Session, ctx: ApiContext): boolean {
  const subject = session.isAuthenticated ? (session.info?.subject ?? null) : null;
  return subject !== null && ctx.admins?.has(subject) === true;
}

/** The request's session, with the client address and HTTPS as the trusted proxy reports them. */
function open(req: IncomingMessage, res: ServerResponse, { manager, trustProxy }: ApiContext): Promise<Session> {
  return loadSession(manager, req, res, { trustProxy });
}

/** An answer the library has no error class for (405, 403); same `{error:{code,message}}` shape. */
function sendProblem(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  res.removeHeader('set-cookie');
  sendJson(res, status, { error: { code, message } }, { 'cache-control': 'no-store', ...headers });
}

/**
 * 401 without dropping the `Set-Cookie` that `loadSession` wrote: when the request carried a dead
 * token, that header clears it in the browser.
 */
function sendNoSession(res: ServerResponse, message = 'no valid session'): void {
  const { status, headers, body } = errorResponse(new NoSessionError(message));
  sendJson(res, status, body, headers);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The session as the API shows it (S). */
export function sessionView(session: Session): Record<string, unknown> {
  const info = session.info;
  if (info === null) throw new NoSessionError();
  return {
    id: info.id,
    username: info.subject,
    data: session.data(),
    createdAt: iso(info.createdAt),
    lastSeenAt: iso(info.lastSeenAt),
    expiresAt: iso(info.expiresAt),
    absoluteExpiresAt: iso(info.absoluteExpiresAt),
    ttl: info.idleTimeout,
  };
}

/**
 * The record with every secret hash (the current one, and any previous one a renewal keeps for a
 * grace period) cut to 8 characters: enough to see it change on login, too little to be useful.
 */
export function shownRecord(record: SessionRecord): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...record };
  for (const [key, value] of Object.entries(shown)) {
    if (/secrethash$/i.test(key) && typeof value === 'string') shown[key] = `${value.slice(0, 8)}…`;
  }
  return shown;
}

// ---- input checks: each throws BadRequestError with a message naming the field ----

async function readObject(req: IncomingMessage, allowed: readonly string[]): Promise<Record<string, unknown>> {
  const body = await readJson(req, BODY_LIMIT);
  if (body === undefined) throw new BadRequestError('a JSON object body is required');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('the body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key))
      throw new BadRequestError(`unknown field ${JSON.stringify(key.slice(0, 64))}; expected ${allowed.join(', ')}`);
  }
  return body as Record<string, unknown>;
}

function username(value: unknown): string {
  if (value === undefined) throw new BadRequestError('username is required');
  if (typeof value !== 'string' || !USERNAME.test(value)) {
    throw new BadRequestError('username must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -');
  }
  return value;
}

function ttl(value: unknown): number {
  if (value === undefined) throw new BadRequestError('ttl is required');
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TTL) {
    throw new BadRequestError(`ttl must be a whole number of seconds from 1 to ${MAX_TTL}`);
  }
  return value;
}

function text(value: unknown): string {
  if (value === undefined) throw new BadRequestError('value is required');
  if (typeof value !== 'string' || value.length > MAX_VALUE_LENGTH)
    throw new BadRequestError(`value must be a string of at most ${MAX_VALUE_LENGTH} characters`);
  return value;
}

function field(value: unknown): string {
  if (value === undefined) throw new BadRequestError('field is required');
  if (typeof value !== 'string' || !FIELD.test(value)) throw new BadRequestError('field must be 1 to 64 characters of A-Z a-z 0-9 _');
  if (RESERVED.has(value.toLowerCase())) throw new BadRequestError(`field ${JSON.stringify(value)} is reserved`);
  return value;
}

/** Routes with no body ignore one, but still read it so the connection stays usable. */
function discardBody(req: IncomingMessage): void {
  req.resume();
}

// ---- handlers ----

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: ApiContext, param: string, query: URLSearchParams) => Promise<void>;

const login: Handler = async (req, res, ctx) => {
  const body = await readObject(req, ['username', 'ttl']);
  const name = username(body.username);
  const seconds = body.ttl === undefined ? undefined : ttl(body.ttl);
  const session = await open(req, res, ctx);
  // Also when already logged in: a login always issues a new token (re-authentication).
  await session.login(name, { displayName: name, ...(seconds !== undefined ? { idleTimeout: seconds } : {}) });
  sendJson(res, 200, { session: sessionView(session), admin: isAdmin(session, ctx) });
};

const getSession: Handler = async (req, res, ctx) => {
  discardBody(req);
  const session = await open(req, res, ctx);
  if (!session.isStored) return sendNoSession(res);
  sendJson(res, 200, { session: sessionView(session), admin: isAdmin(session, ctx) });
};

const getStoredRecord: Handler = async (req, res, ctx) => {
  const { manager, store } = ctx;
  discardBody(req);
  const session = await open(req, res, ctx);
  const id = session.id;
  if (id === null) return sendNoSession(res);
  // Read straight from the store (without touching it, and past the cache), so the panel shows exactly what is kept.
  const record: SessionRecord | null = await store.store.load(id, { now: manager.options.clock.now() });
  if (record === null) return sendNoSession(res);
  const stats = manager.cacheStats();
  const cache =
    stats === null ? null : { servedFromCache: session.servedFromCache, maxStaleness: manager.options.cache?.maxStaleness, ...stats };
  sendJson(res, 200, { store: store.label, kind: store.kind, record: shownRecord(record), cache });
};

const increment: Handler = async (req, res, ctx) => {
  const body = await readObject(req, ['field']);
  const name = field(body.field);
  // Works for anonymous visitors too: the first increment stores an anonymous session.
  const session = await open(req, res, ctx);
  const value = await session.increment(name);
  sendJson(res, 200, { field: name, value });
};

const setData: Handler = async (req, res, ctx, name) => {
  const fieldName = field(decodeURIComponentSafe(name));
  const body = await readObject(req, ['value']);
  const value = text(body.value);
  const session = await open(req, res, ctx);
  await session.set(fieldName, value);
  sendJson(res, 200, { session: sessionView(session) });
};

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new BadRequestError('field must be 1 to 64 characters of A-Z a-z 0-9 _');
  }
}

const setTtl: Handler = async (req, res, ctx) => {
  const body = await readObject(req, ['ttl']);
  const seconds = ttl(body.ttl);
  const session = await open(req, res, ctx);
  if (!session.isStored) return sendNoSession(res);
  await session.setIdleTimeout(seconds);
  sendJson(res, 200, { session: sessionView(session) });
};

const logout: Handler = async (req, res, ctx) => {
  const { manager } = ctx;
  discardBody(req);
  const session = await open(req, res, ctx);
  await session.logout();
  // Clear the cookie even when the request carried none, so the answer is always the same; but
  // not for a token a login or rotation just replaced: that would clear the newer cookie.
  if (res.getHeader('set-cookie') === undefined && !session.superseded) {
    setSessionCookie(res, manager.createBlankSessionCookie(isSecureRequest(req, ctx.trustProxy)));
  }
  res.statusCode = 204;
  res.end();
};

async function loggedIn(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): Promise<Session | null> {
  const session = await open(req, res, ctx);
  if (!session.isAuthenticated) {
    sendNoSession(res, 'log in first');
    return null;
  }
  return session;
}

/** One query parameter at most once; empty counts as absent (`?cursor=` is the first page). */
function single(query: URLSearchParams, name: string): string | null {
  const values = query.getAll(name);
  if (values.length > 1) throw new BadRequestError(`${name} may be given once`);
  const value = values[0];
  return value === undefined || value === '' ? null : value;
}

function pageLimit(query: URLSearchParams): number {
  const text = single(query, 'limit');
  if (text === null) return DEFAULT_PAGE;
  const value = /^[0-9]{1,3}$/.test(text) ? Number(text) : 0;
  if (value < 1 || value > MAX_PAGE) throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_PAGE}`);
  return value;
}

function pageCursor(query: URLSearchParams): string | null {
  const cursor = single(query, 'cursor');
  if (cursor !== null && !CURSOR.test(cursor)) throw new BadRequestError('cursor must be a nextCursor from an earlier page');
  return cursor;
}

const listSessions: Handler = async (req, res, ctx, _param, query) => {
  discardBody(req);
  const limit = pageLimit(query);
  const cursor = pageCursor(query);
  const session = await loggedIn(req, res, ctx);
  if (session === null) return;
  // A page at a time however many sessions the user has: one listing never walks them all.
  const page = await session.listSessions({ cursor, limit });
  const sessions = page.sessions.map((s) => ({
    id: s.id,
    current: s.current,
    createdAt: iso(s.createdAt),
    lastSeenAt: iso(s.lastSeenAt),
    expiresAt: iso(s.expiresAt),
    userAgent: s.lastDevice.userAgent,
    ip: s.lastDevice.ip,
  }));
  sendJson(res, 200, { sessions, nextCursor: page.nextCursor });
};

const revokeOne: Handler = async (req, res, ctx, id) => {
  discardBody(req);
  if (!isSessionId(id)) throw new BadRequestError('not a session id');
  const session = await loggedIn(req, res, ctx);
  if (session === null) return;
  if (!(await session.revokeSession(id))) throw new NotFoundError('no such session among yours');
  res.statusCode = 204;
  res.end();
};

const revokeOthers: Handler = async (req, res, ctx) => {
  discardBody(req);
  const session = await loggedIn(req, res, ctx);
  if (session === null) return;
  const revoked = await session.revokeOtherSessions();
  sendJson(res, 200, { revoked });
};

interface Route {
  path: string | RegExp;
  methods: Partial<Record<string, Handler>>;
}

/** Exact paths first: `/api/sessions/revoke-others` must not be taken for a session id. */
const routes: Route[] = [
  { path: '/api/login', methods: { POST: login } },
  { path: '/api/session', methods: { GET: getSession } },
  { path: '/api/session/store', methods: { GET: getStoredRecord } },
  { path: '/api/session/increment', methods: { POST: increment } },
  { path: '/api/session/ttl', methods: { PUT: setTtl } },
  { path: /^\/api\/session\/data\/([^/]+)$/, methods: { PUT: setData } },
  { path: '/api/logout', methods: { POST: logout } },
  { path: '/api/sessions', methods: { GET: listSessions } },
  { path: '/api/sessions/revoke-others', methods: { POST: revokeOthers } },
  { path: /^\/api\/sessions\/([^/]+)$/, methods: { DELETE: revokeOne } },
];

function match(pathname: string): { route: Route; param: string } | null {
  for (const route of routes) {
    if (typeof route.path === 'string') {
      if (route.path === pathname) return { route, param: '' };
    } else {
      const found = route.path.exec(pathname);
      if (found) return { route, param: found[1] ?? '' };
    }
  }
  return null;
}

/**
 * A browser sends `Origin` on cross-site requests; refuse state changes from another origin.
 * SameSite=Lax already keeps the cookie off cross-site POSTs; this is the second lock.
 */
function crossSite(req: IncomingMessage, trustProxy: number): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    // Behind a proxy the browser's host is the one the proxy was asked for (X-Forwarded-Host).
    return new URL(origin).host !== requestHost(req, trustProxy);
  } catch {
    return true;
  }
}

/**
 * A request whose connection closed before its body arrived: the client went away (or took longer
 * than the request timeout, and Node answered 408 itself). Worth a line, not a stack trace.
 */
function closedEarly(req: IncomingMessage, res: ServerResponse, pathname: string, writtenBefore: number): boolean {
  if (req.complete || !req.destroyed) return false;
  // Bytes on the socket that this handler did not send are Node's 408.
  const timedOut = !res.headersSent && req.socket.bytesWritten > writtenBefore;
  const what = `${req.method ?? '?'} ${pathname.slice(0, 200)}`;
  console.warn(
    timedOut
      ? `tessera demo: ${what} timed out before its body arrived (408)`
      : `tessera demo: client aborted ${what} before its body arrived`,
  );
  return true;
}

/** Answers one `/api/...` request. Every failure becomes `{error:{code,message}}`; nothing throws out of here. */
export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, ctx: ApiContext): Promise<void> {
  const { pathname } = url;
  const writtenBefore = req.socket.bytesWritten;
  res.setHeader('cache-control', 'no-store');
  const found = match(pathname);
  if (found === null) {
    discardBody(req);
    return sendProblem(res, 404, 'NOT_FOUND', `no route ${pathname.slice(0, 200)}`);
  }
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
  const handler = found.route.methods[method];
  if (handler === undefined) {
    discardBody(req);
    const allow = Object.keys(found.route.methods).join(', ');
    return sendProblem(res, 405, 'METHOD_NOT_ALLOWED', `use ${allow} for ${pathname}`, { allow });
  }
  if (method !== 'GET' && crossSite(req, ctx.trustProxy)) {
    discardBody(req);
    return sendProblem(res, 403, 'FORBIDDEN', 'cross-site requests are not accepted');
  }
  try {
    await handler(req, res, ctx, found.param, url.searchParams);
  } catch (error) {
    if (closedEarly(req, res, pathname, writtenBefore)) return;
    const response = errorResponse(error);
    if (response.status >= 500 && response.status !== 503) console.error('tessera demo: request failed', error);
    // Clears any cookie the failed request had started to set; never shows a stack.
    sendError(res, error);
  }
}
