/**
 * express-session's API over tessera, for apps written `req.session.cart = items`: `req.session`
 * is a copy of the session's data with express-session's members (`CompatSession`). A save sends
 * a change set: requests that change different keys keep both (of one key, the last save wins),
 * and none revives a session ended meanwhile. Nothing patches `res.end`: the end-of-request save
 * runs at `finish` (errors to `next(error)`), which only a redirect can beat, so save before one
 * (`await req.session.save()`), and before answering a new session (as passport's `req.login`
 * does), whose cookie needs it stored, unless `saveUninitialized` did; else a warning drops it.
 *
 * @example
 * app.use(session(manager)); // then, in a handler: req.session.cart = items; await req.session.save();
 * @module tessera-session/adapters/express-session-compat
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError, SessionEndedError, type CookieAttributes, type Session, type SessionManager } from '../../core/index.js';
import { jsonSnapshot, snapshotChanges, writeChanges } from '../../core/data-copy.js';
import { OptionWarnings, timeoutFromMs } from '../../core/option-checks.js';
import { clientIp, isSecureRequest, toSessionRequest } from '../node/index.js';

/** A callback in express-session's style: called with the error, or with nothing. */
export type CompatCallback = (error?: unknown) => void;

/** `req.session.cookie`, as express-session shows it; only `maxAge` can be set. */
export interface CompatCookie extends Readonly<Pick<CookieAttributes, 'secure' | 'sameSite' | 'httpOnly' | 'path'>> {
  /** The session's idle timeout, in ms. */
  readonly originalMaxAge: number;
  /** Ms until the session ends unless used. Set, it is the session's idle timeout (in whole seconds) once the request saves. */
  maxAge: number;
  /** When the session ends unless used. */
  readonly expires: Date;
}

/** `req.session`: the data as own properties, and express-session's members; a method's error goes to its callback, else rejects. */
export interface CompatSession {
  /** A field of the session's data; what JSON makes of it is what is stored. */
  [key: string]: unknown;
  /** The session's public id (also `req.sessionID`); undefined until it is stored. */
  readonly id: string | undefined;
  /** The cookie's attributes and lifetime; the one enumerable member, as in express-session. */
  readonly cookie: CompatCookie;
  /** Ends the session; `req.session` becomes a new, empty one, with a new token once stored. */
  regenerate(callback?: CompatCallback): Promise<void>;
  /** Ends the session and clears its cookie; `req.session` is then undefined. */
  destroy(callback?: CompatCallback): Promise<void>;
  /** Makes `req.session` the data in the store, dropping unsaved changes; fails when the session is gone. */
  reload(callback?: CompatCallback): Promise<void>;
  /** Stores the request's changes now (a new session gets its cookie). */
  save(callback?: CompatCallback): Promise<void>;
  /** Restarts the session's idle clock when the request saves. */
  touch(): this;
}

/** The options of `session()`; the cookie and the timeouts are the manager's. */
export interface CompatOptions {
  /**
   * Store an empty session before the handlers run for each request without one: a handler can then answer at once, its cookie set.
   * @default false
   */
  saveUninitialized?: boolean;
}

const UNSAVED = 'a new req.session changed without save() is dropped: await req.session.save() before answering';
type CompatRequest = IncomingMessage & { session?: unknown; ip?: string; secure?: boolean };

/** express-session's methods: each calls its callback with the operation's error or nothing, or else returns its promise. */
function callbackMethods(operations: Record<string, () => Promise<unknown>>): PropertyDescriptorMap {
  const method = (operation: () => Promise<unknown>) => (callback?: CompatCallback) => operation().then(() => callback?.(), callback);
  return Object.fromEntries(Object.entries(operations).map(([name, operation]) => [name, { value: method(operation) }]));
}

/** What `session()` returns: a middleware for Express or connect. */
export type CompatMiddleware = (req: IncomingMessage, res: ServerResponse, next: CompatCallback) => void;

/** The middleware. Refuses a request whose `req.session` is already set. */
export function session(manager: SessionManager, options: CompatOptions = {}): CompatMiddleware {
  const { saveUninitialized = false, ...rest } = options;
  if (typeof saveUninitialized !== 'boolean' || Object.keys(rest).length > 0)
    throw new InvalidOptionError("session() takes { saveUninitialized?: boolean }: the cookie and timeouts are the manager's");
  const { clock, idleTimeout, cookie } = manager.options;
  const warnings = new OptionWarnings();
  return (req: CompatRequest, res, next) => {
    if (req.session != null) return next(new InvalidOptionError('req.session is already set: mount one session middleware'));
    const request = toSessionRequest(req, res, { ip: req.ip ?? clientIp(req), secure: req.secure ?? isSecureRequest(req) });
    let tessera!: Session;
    let bag!: CompatSession;
    let saved!: Map<string, string>;
    let idle: number | null = null;
    const open = async (loaded: Session): Promise<void> => {
      if (saveUninitialized && !loaded.isStored && !loaded.superseded) await loaded.setIdleTimeout(idleTimeout);
      [tessera, bag, idle] = [loaded, {} as CompatSession, null];
      Object.defineProperties(bag, {
        id: { get: () => tessera.id ?? undefined },
        cookie: { enumerable: true, value: cookieView },
        touch: { value: touch },
        ...callbackMethods({ regenerate: () => tessera.logout().then(() => open(tessera)), destroy, reload, save: () => persist(false) }),
      });
      // A stored field named like a method is skipped, as express-session does.
      for (const [key, value] of Object.entries(loaded.data())) if (!(key in bag)) bag[key] = value;
      [saved, req.session] = [jsonSnapshot(bag, ['cookie']), bag];
    };
    const destroy = (): Promise<void> => {
      delete req.session;
      return tessera.logout();
    };
    function touch(this: CompatSession): CompatSession {
      idle ??= tessera.info?.idleTimeout ?? null;
      return this;
    }
    const reload = async (): Promise<void> => {
      const token = tessera.issuedToken; // a token issued in this request replaced the one it came with
      const cookie = token === null ? request.cookie : `${manager.cookieName(request.secure)}=${token}`;
      const reloaded = await manager.load({ ...request, cookie });
      if (!reloaded.isStored) throw new SessionEndedError('failed to load session: it is not in the store');
      await open(reloaded);
    };
    const persist = async (atFinish: boolean): Promise<void> => {
      const changes = snapshotChanges(saved, bag, ['cookie']);
      if (changes.set.size + changes.removed.length === 0 && (idle === null || !tessera.isStored)) return;
      if (atFinish && !tessera.isStored) return warnings.warn('TESSERA_COMPAT_UNSAVED', UNSAVED);
      const writing = writeChanges(tessera, changes, idle);
      [saved, idle] = [changes.snapshot, null];
      await writing;
    };
    const originalMaxAge = (): number => (idle ?? tessera.info?.idleTimeout ?? idleTimeout) * 1000;
    const maxAge = (): number => (idle === null && tessera.info ? tessera.info.expiresAt - clock.now() : originalMaxAge());
    const setMaxAge = (ms: unknown): void => {
      idle = timeoutFromMs('cookie.maxAge', ms);
    };
    const secure = cookie.secure === 'auto' ? request.secure : cookie.secure;
    const cookieView = Object.defineProperties({ httpOnly: true, path: '/', secure, sameSite: cookie.sameSite } as CompatCookie, {
      originalMaxAge: { enumerable: true, get: originalMaxAge },
      maxAge: { enumerable: true, get: maxAge, set: setMaxAge },
      expires: { enumerable: true, get: () => new Date(clock.now() + maxAge()) },
    });
    let finished = false;
    const finish = (): void => {
      if (finished || req.session !== bag) return; // destroyed, or set to null (express-session's unset: 'keep')
      finished = true;
      // A session ended meanwhile (a logout elsewhere) keeps nothing: not an error of this request.
      persist(true).catch((error: unknown) => error instanceof SessionEndedError || next(error));
    };
    const opened = manager.load(request).then(open);
    opened.then(() => {
      Object.defineProperty(req, 'sessionID', { configurable: true, enumerable: true, get: () => tessera.id ?? undefined });
      res.once('finish', finish).once('close', finish);
      next();
    }, next);
  };
}
