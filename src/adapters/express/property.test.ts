import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import { InvalidOptionError, ManualClock, SessionManager, type Session } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { errorHandler, requireAuth, session, type SessionProperty } from './index.js';

// express-session ships no types (and @types/express-session is not a dependency): the slice used.
type ExpressSession = (options: { secret: string; resave: boolean; saveUninitialized: boolean }) => RequestHandler;
const { default: expressSession } = (await import('express-session' as string)) as { default: ExpressSession };

// This file compiles with the default augmentation (req.session); test/types/express-property/
// checks the types of an app that declares `tessera`. Here only what happens at run time counts.
const TESSERA = 'tessera' as SessionProperty;
const tessera = (req: Request): Session => (req as unknown as { tessera: Session }).tessera;
const legacy = (req: Request) => req.session as unknown as { views?: number };

async function listen(app: express.Express): Promise<{ base: string; server: Server }> {
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const cookies = (res: Response) => res.headers.getSetCookie().map((value) => value.split(';')[0] as string);

describe('express session(manager, { property }): tessera beside express-session', () => {
  const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
  const reachedApp: unknown[] = [];
  const app = express();
  app.use(expressSession({ secret: 'the old one', resave: false, saveUninitialized: false }));
  app.use('/old', (req, res) => {
    // A route not moved yet: express-session's req.session, untouched by tessera.
    const old = legacy(req);
    old.views = (old.views ?? 0) + 1;
    res.json({ views: old.views });
  });
  app.use(session(manager, { property: TESSERA }));
  app.post('/login', async (req, res) => {
    await tessera(req).login('alice');
    res.json({ oldViews: legacy(req).views ?? null });
  });
  app.get('/me', requireAuth(), (req, res) => {
    res.json({ subject: tessera(req).subject, live: req.sessions === manager, oldViews: legacy(req).views ?? null });
  });
  app.use(errorHandler());
  const appHandler: ErrorRequestHandler = (error, _req, res, _next) => {
    reachedApp.push(error);
    res.status(500).end();
  };
  app.use(appHandler);
  let base = '';
  let server: Server;
  before(async () => {
    ({ base, server } = await listen(app));
  });
  after(() => {
    server.close();
    manager.close();
  });

  it('puts the session at req.tessera, the manager at req.sessions, and leaves req.session to express-session', async () => {
    const first = await fetch(`${base}/old`);
    assert.deepEqual(await first.json(), { views: 1 });
    const sid = cookies(first).find((c) => c.startsWith('connect.sid=')) as string;
    assert.ok(sid, 'express-session set its cookie');

    const login = await fetch(`${base}/login`, { method: 'POST', headers: { cookie: sid } });
    assert.equal(login.status, 200);
    assert.deepEqual(await login.json(), { oldViews: 1 });
    const token = cookies(login).find((c) => c.startsWith('tessera=')) as string;
    assert.ok(token, 'tessera set its cookie');
    const both = `${sid}; ${token}`;

    assert.deepEqual(await (await fetch(`${base}/old`, { headers: { cookie: both } })).json(), { views: 2 });
    const me = await fetch(`${base}/me`, { headers: { cookie: both } });
    assert.deepEqual(await me.json(), { subject: 'alice', live: true, oldViews: 2 });
    const withoutToken = await fetch(`${base}/me`, { headers: { cookie: sid } });
    assert.equal(withoutToken.status, 401, 'requireAuth() finds the session at req.tessera');
    assert.equal(((await withoutToken.json()) as { error: { code: string } }).error.code, 'NO_SESSION');
    assert.deepEqual(reachedApp, []);
  });
});

describe('express session(): the property it is given', () => {
  const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
  after(() => manager.close());

  it("refuses the manager's name or an empty one when the app starts", () => {
    for (const property of ['sessions', '']) {
      assert.throws(() => session(manager, { property: property as SessionProperty }), InvalidOptionError, property);
    }
  });

  it('refuses to overwrite a property already set (express-session at req.session, or session() twice), as a bug for the app', async () => {
    const reachedApp: unknown[] = [];
    const app = express();
    app.use('/both', expressSession({ secret: 'the old one', resave: false, saveUninitialized: false }));
    app.use('/twice', session(manager));
    app.use(session(manager));
    app.use((_req, res) => {
      res.json({});
    });
    app.use(errorHandler());
    const appHandler: ErrorRequestHandler = (error, _req, res, _next) => {
      reachedApp.push(error);
      res.status(500).end();
    };
    app.use(appHandler);
    const { base, server } = await listen(app);
    try {
      for (const path of ['/both', '/twice']) {
        assert.equal((await fetch(`${base}${path}`)).status, 500, path);
        assert.ok(reachedApp.at(-1) instanceof InvalidOptionError, path);
        assert.match(String(reachedApp.at(-1)), /req\.session is already set/);
      }
      assert.equal((await fetch(`${base}/`)).status, 200, 'mounted once, alone');
    } finally {
      server.close();
    }
  });
});
