/**
 * express-session's API over tessera, for apps written `req.session.cart = items`: `req.session`
 * is a copy of the session's data with express-session's `regenerate`, `destroy`, `reload`,
 * `save`, `touch`, `id` and `cookie`. A save sends a change set (the keys whose JSON changed, the
 * keys removed): requests that change different keys keep both (of one key, the last save wins),
 * and none revives a session ended meanwhile.
 *
 * Without patching `res.end`, there is no hook before the headers go out: the end-of-request save
 * runs at the response's `finish` (errors to `next(error)`, as in express-session), or wherever
 * the app awaits `save()`. A stored session's cookie stays as it is, so only a request the browser
 * sends at once (a redirect) can beat that save: `await req.session.save()` before redirecting,
 * as express-session advises. A new session's cookie needs the session stored before the headers:
 * `await req.session.save()` (as passport's `req.login` does), or `saveUninitialized: true`, which
 * stores an empty session for every request without one before the handlers run. A new session
 * first changed at `finish` is dropped with a warning: its cookie can no longer be sent.
 *
 * @example
 * app.use(session(manager)); // then, in a handler: req.session.cart = items; await req.session.save();
 * @module tessera-session/adapters/express-session-compat
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError, SessionEndedError, type CookieAttributes, type Session, type SessionManager } from '../../core/index.js';
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

/**
 * `req.session`: the data as own properties, and express-session's members (of which only `cookie`
 * is enumerable). A method's error goes to its callback, or else rejects its promise.
 */
export interface CompatSession {
  /** A field of the session's data; what JSON makes of it is what is stored. */
  [key: string]: unknown;
  /** The session's public id (also `req.sessionID`); undefined until it is stored. */
  readonly id: string | undefined;
  /** The cookie's attributes and lifetime. */
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
   * Store an empty session, before the handlers run, for each request that has none: a handler
   * can then write to `req.session` and answer at once, its cookie already set.
   * @default false
   */
  saveUninitialized?: boolean;
}

const UNSAVED = 'a new req.session changed without save() is dropped: await req.session.save() before answering';
type CompatRequest = IncomingMessage & { session?: unknown; ip?: string; secure?: boolean };

function settle(callback: CompatCallback | undefined, operation: () => Promise<unknown>): Promise<void> {
  const done = operation().then(() => undefined);
  return callback === undefined ? done : done.then(() => callback(), callback);
}

/** What `session()` returns: a middleware for Express or connect. */
export type CompatMiddleware = (req: IncomingMessage, res: ServerResponse, next: CompatCallback) => void;

/** The middleware. Refuses a request whose `req.session` is already set. */
export function session(manager: SessionManager, options: CompatOptions = {}): CompatMiddleware {
  const { saveUninitialized = false, ...rest } = options;
  if (typeof saveUninitialized !== 'boolean' || Object.keys(rest).length > 0)
    throw new InvalidOptionError("session() takes { saveUninitialized?: boolean }: the cookie and timeouts are the manager's");
  const { clock, idleTimeout, cookie } = manager.options;
  let warned = false;
  return (incoming, res, next) => {
    const req = incoming as CompatRequest;
    if (req.session != null) return next(new InvalidOptionError('req.session is already set: mount one session middleware'));
    const request = toSessionRequest(req, res, { ip: req.ip ?? clientIp(req), secure: req.secure ?? isSecureRequest(req) });
    let tessera!: Session;
    let bag!: CompatSession;
    let saved = new Map<string, string>();
    let idle: number | null = null;
    const open = async (loaded: Session): Promise<void> => {
      if (saveUninitialized && !loaded.isStored && !loaded.superseded) await loaded.setIdleTimeout(idleTimeout);
      [tessera, bag, saved, idle] = [loaded, {} as CompatSession, new Map(), null];
      Object.defineProperties(bag, {
        id: { get: () => tessera.id ?? undefined },
        cookie: { enumerable: true, value: cookieView },
        regenerate: { value: (callback?: CompatCallback) => settle(callback, () => tessera.logout().then(() => open(tessera))) },
        destroy: { value: (callback?: CompatCallback) => settle(callback, destroy) },
        reload: { value: (callback?: CompatCallback) => settle(callback, reload) },
        save: { value: (callback?: CompatCallback) => settle(callback, () => persist(false)) },
        touch: { value: touch },
      });
      for (const [key, value] of Object.entries(loaded.data())) {
        if (key in bag) continue; // a stored field named like a method: express-session skips it too
        bag[key] = value;
        saved.set(key, JSON.stringify(value));
      }
      req.session = bag;
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
      const reloaded = await manager.load(
        token === null ? request : { ...request, cookie: `${manager.cookieName(request.secure)}=${token}` },
      );
      if (!reloaded.isStored) throw new SessionEndedError('failed to load session: it is not in the store');
      await open(reloaded);
    };
    const persist = async (atFinish: boolean): Promise<void> => {
      const current = new Map<string, string>();
      for (const key of Object.keys(bag)) {
        const json = key === 'cookie' ? undefined : JSON.stringify(bag[key]);
        if (json !== undefined) current.set(key, json);
      }
      const changed = [...current].filter(([key, json]) => saved.get(key) !== json);
      const removed = [...saved.keys()].filter((key) => !current.has(key));
      if (changed.length + removed.length === 0 && (idle === null || !tessera.isStored)) return;
      if (atFinish && !tessera.isStored) {
        if (!warned) process.emitWarning(UNSAVED, { code: 'TESSERA_COMPAT_UNSAVED' });
        warned = true;
        return;
      }
      const writes = [...changed.map(([key, json]) => tessera.set(key, JSON.parse(json))), ...removed.map((key) => tessera.delete(key))];
      if (idle !== null) writes.push(tessera.setIdleTimeout(idle));
      [saved, idle] = [current, null];
      await Promise.all(writes);
    };
    const originalMaxAge = (): number => (idle ?? tessera.info?.idleTimeout ?? idleTimeout) * 1000;
    const maxAge = (): number => {
      const expiresAt = idle === null ? tessera.info?.expiresAt : undefined;
      return expiresAt === undefined ? originalMaxAge() : expiresAt - clock.now();
    };
    const setMaxAge = (ms: unknown): void => {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)
        throw new InvalidOptionError(`cookie.maxAge must be a positive number of ms (a tessera session always ends), not ${String(ms)}`);
      idle = Math.ceil(ms / 1000);
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
    manager
      .load(request)
      .then(open)
      .then(() => {
        Object.defineProperty(req, 'sessionID', { configurable: true, enumerable: true, get: () => tessera.id ?? undefined });
        res.once('finish', finish).once('close', finish);
        next();
      }, next);
  };
}
