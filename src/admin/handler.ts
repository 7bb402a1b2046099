import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BadRequestError,
  ForbiddenError,
  InvalidOptionError,
  type JsonValue,
  NotFoundError,
  type SessionManager,
  errorResponse,
  hasSessionIndex,
  isSessionId,
} from '../core/index.js';
import { type ConsolePage, staticConsole } from './console-files.js';
import { type OriginOptions, sameOrigin } from './origin.js';
import { RecentEvents } from './stats.js';
import { type AdminDataField, adminSession, decodeCursor, encodeCursor, parseLimit } from './views.js';

/** Options of {@link createAdminHandler}. */
export interface AdminHandlerOptions extends OriginOptions {
  /** The manager whose sessions the API shows and ends. */
  manager: SessionManager;
  /**
   * Decides who may use the API; required, there is no default that lets anyone in. Return (or
   * resolve) true for an admin, false for a logged-in user who is not one (403); throw
   * `NoSessionError` for a request with no session (401).
   */
  authorize: (request: IncomingMessage) => boolean | Promise<boolean>;
  /**
   * Whether answers include session data values. By default only field names and sizes are shown,
   * so an admin sees what a session holds without reading a user's data.
   * @default false
   */
  showData?: boolean;
  /**
   * What `GET ./` and the console's static files are served by: a function of its own, or false
   * for none (404). By default, the files of the `console/` folder next to this module.
   * @default the bundled console, when present
   */
  consolePage?: ConsolePage | false;
}

/** A node:http handler that Express can mount; `close()` stops its event counting. */
export interface AdminHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  /** Unsubscribes from the manager's events (for `api/stats`). */
  close(): void;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) {
    res.end();
    return;
  }
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError('malformed percent-encoding in the path');
  }
}

// Filters go to the store as query parameters: PostgreSQL refuses a NUL byte (a 500 if it got
// there), and no subject or display name an app stores holds control characters or runs to pages.
const MAX_FILTER = 512;
function filterValue(name: string, value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (value.length > MAX_FILTER || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new BadRequestError(`${name} must be at most ${MAX_FILTER} characters with no control characters`);
  }
  return value;
}

const bytesOf = (value: JsonValue): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * The admin HTTP API (and, at `GET ./`, the console page) for node:http or Express:
 * `app.use('/admin', createAdminHandler({ manager, authorize }))`. Paths are read from `req.url`
 * relative to the mount point, as Express sets it; under plain node:http, strip the prefix first.
 *
 * @example
 * app.use('/admin', createAdminHandler({
 *   manager: sessions,
 *   authorize: (req) => {
 *     const subject = (req as express.Request).session?.subject;
 *     if (subject == null) throw new NoSessionError();
 *     return admins.has(subject);
 *   },
 * }));
 */
export function createAdminHandler(options: AdminHandlerOptions): AdminHandler {
  const { manager, authorize } = options;
  if (manager === undefined || manager === null) throw new InvalidOptionError('createAdminHandler needs a manager');
  if (typeof authorize !== 'function') {
    throw new InvalidOptionError('createAdminHandler needs an authorize(request) function: there is no default that lets anyone in');
  }
  if (!hasSessionIndex(manager.options.store)) {
    throw new InvalidOptionError('the admin API needs a store that implements SessionIndex (listing, counting, bulk revocation)');
  }
  const store = manager.options.store;
  const showData = options.showData === true;
  const consolePage = options.consolePage === false ? null : (options.consolePage ?? staticConsole());
  const recent = new RecentEvents(manager);

  /** Field names and stored sizes of a session's data; values only with `showData`. */
  function fieldsOf(id: string, data: Record<string, JsonValue>): AdminDataField[] {
    return Object.keys(data).map((name) => {
      const stored = data[name] as JsonValue;
      const field: AdminDataField = { name, bytes: bytesOf(stored) };
      if (showData) {
        // A value whose encryption key was removed cannot be shown; its name and size still can.
        try {
          field.value = manager.options.codec.decode(stored, { sessionId: id, field: name });
        } catch {}
      }
      return field;
    });
  }

  async function listSessions(url: URL): Promise<unknown> {
    const params = url.searchParams;
    for (const name of ['subject', 'q', 'id', 'cursor', 'limit']) {
      if (params.getAll(name).length > 1) throw new BadRequestError(`${name} is given more than once`);
    }
    const limit = parseLimit(params.get('limit'));
    const cursor = params.get('cursor');
    const query = {
      limit,
      cursor: cursor === null || cursor === '' ? null : decodeCursor(cursor),
      ...(params.get('subject') ? { subject: filterValue('subject', params.get('subject') as string) } : {}),
      ...(params.get('q') ? { displayNamePrefix: filterValue('q', params.get('q') as string) } : {}),
      ...(params.get('id') ? { id: filterValue('id', params.get('id') as string) } : {}),
    };
    // One indexed query for the page; the records it returns carry the data, so the field names
    // and sizes cost no further read.
    const page = await store.query({ ...query, now: manager.options.clock.now() });
    const sessions = page.sessions.map((record) => adminSession(record, fieldsOf(record.id, record.data)));
    return { sessions, nextCursor: encodeCursor(page.nextCursor) };
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const segments = path.split('/').slice(1);
    const api = segments[0] === 'api';

    if (!api) {
      if (consolePage === null || (method !== 'GET' && method !== 'HEAD')) throw new NotFoundError();
      // The console's relative links need the mount point to end in a slash.
      const original = (req as { originalUrl?: unknown }).originalUrl;
      if (path === '/' && typeof original === 'string') {
        const originalPath = original.split('?')[0] ?? '';
        if (!originalPath.endsWith('/')) {
          send(res, 308, undefined, { location: `${originalPath}/${url.search}` });
          return;
        }
      }
      const served = await consolePage(req, res, path);
      if (!served) throw new NotFoundError();
      return;
    }

    const [, resource, param, tail] = segments;
    if (method === 'GET' && resource === 'sessions' && segments.length === 2) {
      send(res, 200, await listSessions(url));
    } else if (method === 'GET' && resource === 'stats' && segments.length === 2) {
      const live = await manager.count();
      // Counting distinct subjects would take a scan on some stores: null says "not cheap".
      send(res, 200, { live, subjects: null, recent: recent.counts() });
    } else if (resource === 'sessions' && segments.length === 3 && param !== undefined && param !== '') {
      const id = decodeSegment(param);
      if (method !== 'GET' && method !== 'DELETE') return notAllowed(res, 'GET, DELETE');
      // A string that is not a session id names no session: answered without asking the store.
      if (!isSessionId(id)) throw new NotFoundError('no such session');
      if (method === 'GET') {
        // One store read for the session and its data fields (what manager.get() reads, plus data).
        const record = await store.load(id, { now: manager.options.clock.now() });
        if (record === null) throw new NotFoundError('no such session');
        send(res, 200, { session: adminSession(record, fieldsOf(id, record.data)) });
      } else {
        if (!sameOrigin(req, options)) throw new ForbiddenError('a mutating request needs same-origin proof (Sec-Fetch-Site or Origin)');
        if (!(await manager.revoke(id, 'admin'))) throw new NotFoundError('no such session');
        send(res, 204, undefined);
      }
    } else if (resource === 'subjects' && tail === 'sessions' && segments.length === 4 && param !== undefined && param !== '') {
      if (method !== 'DELETE') return notAllowed(res, 'DELETE');
      if (!sameOrigin(req, options)) throw new ForbiddenError('a mutating request needs same-origin proof (Sec-Fetch-Site or Origin)');
      const subject = filterValue('subject', decodeSegment(param));
      send(res, 200, { revoked: await manager.revokeAll(subject, { reason: 'admin' }) });
    } else if ((resource === 'sessions' || resource === 'stats') && segments.length === 2) {
      notAllowed(res, 'GET');
    } else throw new NotFoundError('no such route');
  }

  function notAllowed(res: ServerResponse, allow: string): void {
    send(res, 405, { error: { code: 'BAD_REQUEST', message: `method not allowed; allowed: ${allow}` } }, { allow });
  }

  const handler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void => {
    void (async () => {
      try {
        // NoSessionError thrown by authorize becomes the 401; only a literal true lets in.
        if ((await authorize(req)) !== true) throw new ForbiddenError('not an admin');
        await route(req, res);
      } catch (error) {
        const answer = errorResponse(error);
        // A programming error (a throwing authorize, say) goes to the app's error handler when
        // there is one, so it is logged the app's way; the client gets the same bare 500.
        if (answer.status === 500 && next !== undefined) {
          if (!res.headersSent) res.setHeader('cache-control', 'no-store');
          next(error);
          return;
        }
        if (res.headersSent) {
          res.destroy();
          return;
        }
        send(res, answer.status, answer.body, answer.headers);
      }
    })();
  };
  return Object.assign(handler, { close: () => recent.close() });
}
