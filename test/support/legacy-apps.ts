// Real express-session apps, as the apps moving to tessera run them (log a user in, count page
// views), and a tessera app on the Express adapter with the migration, for the migration tests.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import expressSession, { type Store } from 'express-session';
import { type ManualClock, type SessionAdopter, SessionManager, type SessionManagerOptions } from '../../src/core/index.js';
import { adoptExpressSessions, type LegacySessionSource } from '../../src/migrate/express-session/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { errorHandler, session } from '../../src/adapters/express/index.js';

export const LEGACY_MAX_AGE_MS = 10 * 60 * 1000;

/** A started HTTP server: its base URL and how to stop it. */
export interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(app: express.Express): Promise<Running> {
  const server: Server = await new Promise((resolve) => {
    const started = app.listen(0, '127.0.0.1', () => resolve(started));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * An express-session app on `store`: `POST /login/:user` logs in (under `passport.user`, or
 * `userId` when `field` says so), `GET /views` counts page views.
 */
export function startLegacyApp(store: Store, secret: string | string[], field: 'passport' | 'userId' = 'passport'): Promise<Running> {
  const app = express();
  app.use(expressSession({ store, secret, resave: false, saveUninitialized: false, cookie: { maxAge: LEGACY_MAX_AGE_MS } }));
  app.post('/login/:user', (req, res) => {
    const record = req.session as unknown as Record<string, unknown>;
    if (field === 'passport') record.passport = { user: req.params.user };
    else record.userId = req.params.user;
    res.json({ ok: true });
  });
  app.get('/views', (req, res) => {
    const record = req.session as unknown as { views?: number };
    record.views = (record.views ?? 0) + 1;
    res.json({ views: record.views });
  });
  return listen(app);
}

/** A tessera app on the Express adapter: `GET /whoami` shows the session, `POST /views` counts. */
export function startTesseraApp(manager: SessionManager): Promise<Running> {
  const app = express();
  app.use(session(manager));
  app.get('/whoami', (req, res) => {
    res.json({ subject: req.session.subject, data: req.session.data(), absoluteExpiresAt: req.session.info?.absoluteExpiresAt ?? null });
  });
  app.post('/views', async (req, res) => {
    res.json({ views: await req.session.increment('views') });
  });
  app.use(errorHandler());
  return listen(app);
}

/** One answer: status, parsed body, and each `Set-Cookie`. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
  setCookies: string[];
  headers: Headers;
}

export async function send(url: string, options: { method?: string; cookie?: string } = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: options.cookie === undefined ? {} : { cookie: options.cookie },
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    setCookies: response.headers.getSetCookie(),
    headers: response.headers,
  };
}

/** `name=value` of the cookie named `name` among `setCookies`, or null. */
export function cookieOf(setCookies: readonly string[], name: string): string | null {
  const found = setCookies.find((value) => value.startsWith(`${name}=`));
  return found === undefined ? null : (found.split(';')[0] as string);
}

/**
 * Logs `user` in on the legacy app and views `views` pages; answers the `connect.sid=…` pair and
 * the session id (the part the signature covers).
 */
export async function legacyLogin(app: Running, user: string, views: number): Promise<{ cookie: string; id: string }> {
  const login = await send(`${app.url}/login/${user}`, { method: 'POST' });
  const cookie = cookieOf(login.setCookies, 'connect.sid');
  if (cookie === null) throw new Error('the legacy app set no cookie');
  for (let i = 1; i <= views; i++) {
    const page = await send(`${app.url}/views`, { cookie });
    if (page.body.views !== i) throw new Error(`legacy counter: ${JSON.stringify(page.body)}`);
  }
  const value = decodeURIComponent(cookie.slice('connect.sid='.length));
  return { cookie, id: value.slice(2, value.lastIndexOf('.')) };
}

/** An adopter whose calls are counted, to hold a test back until a given request has reached it. */
export interface WatchedAdopter {
  adopter: SessionAdopter;
  /**
   * Settles once the `n`-th call has returned its promise, that is has run as far as it runs
   * without waiting: express-session's adopter has then joined the adoption of its cookie already
   * in flight, or (were there no such sharing) sent its own claim.
   */
  called(n: number): Promise<void>;
}

export function watchAdopter(adopter: SessionAdopter): WatchedAdopter {
  let calls = 0;
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  return {
    adopter: (request) => {
      const answer = adopter(request);
      calls++;
      for (const waiter of waiting.filter((w) => w.n <= calls)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
      return answer;
    },
    called: (n) => (n <= calls ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }))),
  };
}

/** The secret the legacy apps sign with, which the migration is given after a newer one. */
export const OLD_SECRET = 'the old secret';

/**
 * A tessera app (the Express adapter, a memory store unless `manager` says otherwise) that takes
 * over express-session's sessions from `source`, its adopter watched (see `watchAdopter`).
 */
export async function startAdoptingApp(
  source: LegacySessionSource,
  options: { subject?: string; clock?: ManualClock; manager?: Partial<SessionManagerOptions> } = {},
): Promise<{ manager: SessionManager; app: Running; adopterCalled: WatchedAdopter['called'] }> {
  const { clock } = options;
  const adopter = watchAdopter(
    adoptExpressSessions({
      source,
      secrets: ['the new secret', OLD_SECRET],
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
      ...(clock !== undefined ? { clock } : {}),
    }),
  );
  const manager = new SessionManager({ store: new MemoryStore(), adopt: adopter.adopter, ...(clock ? { clock } : {}), ...options.manager });
  return { manager, app: await startTesseraApp(manager), adopterCalled: adopter.called };
}
