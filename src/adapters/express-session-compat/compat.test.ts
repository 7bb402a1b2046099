import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import express, { type ErrorRequestHandler, type Request } from 'express';
import { InvalidOptionError, ManualClock, SessionManager, type SessionStore } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../../testing/fixtures.js';
import { errorHandler } from '../express/index.js';
import { session, type CompatOptions, type CompatSession } from './index.js';

// The express adapter's augmentation types req.session as tessera's Session in this program: here it is the bag.
const bag = (req: Request) => (req as unknown as { session: CompatSession }).session;
const sessionId = (req: Request) => (req as unknown as { sessionID: string | undefined }).sessionID;

interface Harness {
  base: string;
  manager: SessionManager;
  clock: ManualClock;
  appErrors: unknown[];
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function start(
  routes: (app: express.Express) => void,
  options: CompatOptions = {},
  wrapStore: (store: SessionStore) => SessionStore = (store) => store,
): Promise<Harness> {
  const clock = new ManualClock();
  const manager = new SessionManager({ store: wrapStore(new MemoryStore()), clock, cleanupInterval: false });
  const appErrors: unknown[] = [];
  const app = express();
  app.use(express.json());
  app.use(session(manager, options));
  routes(app);
  app.use(errorHandler());
  const last: ErrorRequestHandler = (error, _req, res, _next) => {
    appErrors.push(error);
    if (!res.headersSent) res.status(500).json({ error: 'app' });
  };
  app.use(last);
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  servers.push(server);
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, manager, clock, appErrors };
}

/** The `name=value` of the session cookie a response set, or undefined. */
const sessionCookie = (res: Response) =>
  res.headers
    .getSetCookie()
    .find((value) => value.startsWith('tessera='))
    ?.split(';')[0];

function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('express-session-compat: req.session as a property bag', () => {
  it('stores a new session through an awaited save(), then saves property writes at the end of each request', async () => {
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        bag(req).views = 1;
        await bag(req).save();
        res.json({ id: bag(req).id, sessionID: sessionId(req) });
      });
      app.post('/view', (req, res) => {
        bag(req).views = (bag(req).views as number) + 1;
        res.json({ views: bag(req).views });
      });
      app.get('/read', (req, res) => res.json({ views: bag(req).views ?? null }));
    });
    const first = await fetch(`${h.base}/start`, { method: 'POST' });
    const cookie = sessionCookie(first);
    assert.ok(cookie, 'the new session sent its cookie');
    const { id, sessionID } = (await first.json()) as { id: string; sessionID: string };
    assert.equal(typeof id, 'string');
    assert.equal(sessionID, id);
    const second = await fetch(`${h.base}/view`, { method: 'POST', headers: { cookie } });
    assert.deepEqual(await second.json(), { views: 2 });
    assert.equal(sessionCookie(second), undefined, 'a stored session keeps its cookie');
    assert.deepEqual(await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(), { views: 2 });
    assert.equal(await h.manager.count(), 1);
  });

  it('drops, with one warning, changes to a new session that was never saved: its cookie could not be sent', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const h = await start((app) => {
        app.get('/', (req, res) => {
          bag(req).views = 1;
          res.json({ ok: true });
        });
      });
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${h.base}/`);
        assert.equal(res.status, 200);
        assert.equal(sessionCookie(res), undefined);
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(await h.manager.count(), 0, 'no session left behind without a cookie');
      assert.deepEqual(
        warnings.map((warning) => (warning as Error & { code?: string }).code),
        ['TESSERA_COMPAT_UNSAVED'],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('with saveUninitialized, stores a session before the handlers run, so a synchronous handler can write and answer', async () => {
    const h = await start(
      (app) => {
        app.get('/', (req, res) => {
          bag(req).count = ((bag(req).count as number | undefined) ?? 0) + 1;
          res.end(String(bag(req).count));
        });
      },
      { saveUninitialized: true },
    );
    const first = await fetch(`${h.base}/`);
    assert.equal(await first.text(), '1');
    const cookie = sessionCookie(first);
    assert.ok(cookie);
    const second = await fetch(`${h.base}/`, { headers: { cookie } });
    assert.equal(await second.text(), '2');
    assert.equal(await h.manager.count(), 1);
  });

  it('shows the data and cookie as the only enumerable properties, stores what JSON makes of a value, and saves deletes and nested changes', async () => {
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        Object.assign(bag(req), { cart: ['apple'], gone: true, at: new Date(0), skipped: undefined });
        await bag(req).save();
        res.json(Object.keys(bag(req)));
      });
      app.post('/change', (req, res) => {
        (bag(req).cart as string[]).push('pear');
        delete bag(req).gone;
        res.end();
      });
      app.get('/read', (req, res) => res.json({ ...bag(req), cookie: undefined }));
    });
    const first = await fetch(`${h.base}/start`, { method: 'POST' });
    assert.deepEqual(await first.json(), ['cookie', 'cart', 'gone', 'at', 'skipped']);
    const cookie = sessionCookie(first) as string;
    await (await fetch(`${h.base}/change`, { method: 'POST', headers: { cookie } })).text();
    assert.deepEqual(await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(), {
      cart: ['apple', 'pear'],
      at: '1970-01-01T00:00:00.000Z',
    });
  });

  it('saves change sets: two requests that change different keys of one session both keep theirs (the late one lands last)', async () => {
    const held = gate();
    const loaded = gate();
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        Object.assign(bag(req), { a: 0, b: 0 });
        await bag(req).save();
        res.end();
      });
      app.post('/a', async (req, res) => {
        loaded.open();
        await held.wait;
        bag(req).a = 1;
        res.end();
      });
      app.post('/b', (req, res) => {
        bag(req).b = 1;
        res.end();
      });
      app.get('/read', (req, res) => res.json({ a: bag(req).a, b: bag(req).b }));
    });
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    const late = fetch(`${h.base}/a`, { method: 'POST', headers: { cookie } });
    await loaded.wait; // /a has loaded {a: 0, b: 0} and waits
    assert.equal((await fetch(`${h.base}/b`, { method: 'POST', headers: { cookie } })).status, 200);
    held.open();
    assert.equal((await late).status, 200);
    assert.deepEqual(await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(), { a: 1, b: 1 });
  });

  it('does not bring back a session destroyed while a request that changed it was running', async () => {
    const held = gate();
    const loaded = gate();
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        bag(req).a = 0;
        await bag(req).save();
        res.end();
      });
      app.post('/slow', async (req, res) => {
        loaded.open();
        await held.wait;
        bag(req).a = 1;
        res.end();
      });
      app.post('/logout', async (req, res) => {
        await bag(req).destroy();
        res.json({ session: typeof (req as unknown as { session: unknown }).session });
      });
    });
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    const slow = fetch(`${h.base}/slow`, { method: 'POST', headers: { cookie } });
    await loaded.wait;
    const logout = await fetch(`${h.base}/logout`, { method: 'POST', headers: { cookie } });
    assert.deepEqual(await logout.json(), { session: 'undefined' });
    assert.match(logout.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0/);
    held.open();
    assert.equal((await slow).status, 200);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await h.manager.count(), 0, 'the late save did not recreate it');
    assert.deepEqual(h.appErrors, [], 'a session ended meanwhile is no error of the late request');
  });

  it('regenerate() ends the session and gives an empty one under a new token, by callback or promise', async () => {
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        bag(req).secret = 'x';
        await bag(req).save();
        res.end();
      });
      app.post('/regenerate-callback', (req, res, next) => {
        const before = bag(req).id;
        bag(req).regenerate((error) => {
          if (error) return next(error);
          bag(req).fresh = true;
          bag(req).save((saveError) =>
            saveError ? next(saveError) : res.json({ same: bag(req).id === before, data: { ...bag(req), cookie: undefined } }),
          );
        });
      });
      app.post('/regenerate-promise', async (req, res) => {
        await bag(req).regenerate();
        bag(req).fresh = 'promise';
        await bag(req).save();
        res.json({ secret: bag(req).secret ?? null });
      });
      app.get('/read', (req, res) => res.json({ secret: bag(req).secret ?? null, fresh: bag(req).fresh ?? null }));
    });
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    const regenerated = await fetch(`${h.base}/regenerate-callback`, { method: 'POST', headers: { cookie } });
    assert.deepEqual(await regenerated.json(), { same: false, data: { fresh: true } });
    const next = sessionCookie(regenerated) as string;
    assert.ok(next && next !== cookie);
    assert.deepEqual(
      await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(),
      { secret: null, fresh: null },
      'old token is dead',
    );
    assert.deepEqual(await (await fetch(`${h.base}/read`, { headers: { cookie: next } })).json(), { secret: null, fresh: true });
    const again = await fetch(`${h.base}/regenerate-promise`, { method: 'POST', headers: { cookie: next } });
    assert.deepEqual(await again.json(), { secret: null });
    assert.notEqual(sessionCookie(again), next);
    assert.equal(await h.manager.count(), 1);
  });

  it('reload() reads what another request stored meanwhile, and fails when the session is gone', async () => {
    const held = gate();
    const loaded = gate();
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        bag(req).step = 'first';
        await bag(req).save();
        res.end();
      });
      app.post('/reload', async (req, res) => {
        loaded.open();
        await held.wait;
        const before = bag(req).step;
        bag(req).unsaved = true;
        await bag(req).reload();
        res.json({ before, after: bag(req).step, unsaved: bag(req).unsaved ?? null });
      });
      app.post('/step', (req, res) => {
        bag(req).step = 'second';
        res.end();
      });
      app.post('/gone', async (req, res) => {
        await h.manager.revoke(bag(req).id as string);
        await bag(req).reload();
        res.end();
      });
    });
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    const reloading = fetch(`${h.base}/reload`, { method: 'POST', headers: { cookie } });
    await loaded.wait;
    await (await fetch(`${h.base}/step`, { method: 'POST', headers: { cookie } })).text();
    held.open();
    assert.deepEqual(await (await reloading).json(), { before: 'first', after: 'second', unsaved: null });
    const gone = await fetch(`${h.base}/gone`, { method: 'POST', headers: { cookie } });
    assert.equal(gone.status, 401);
    assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'SESSION_ENDED');
  });

  it('cookie.maxAge reads the time left and sets the idle timeout; the other cookie fields are views', async () => {
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        bag(req).a = 1;
        bag(req).cookie.maxAge = 60_000;
        await bag(req).save();
        const { originalMaxAge, maxAge, httpOnly, path, secure, sameSite } = bag(req).cookie;
        res.json({ originalMaxAge, maxAge, httpOnly, path, secure, sameSite, json: JSON.parse(JSON.stringify(bag(req))).cookie.maxAge });
      });
      app.get('/read', (req, res) => res.json({ a: bag(req).a ?? null, maxAge: bag(req).cookie.maxAge }));
      app.post('/bad', (req, res) => {
        bag(req).cookie.maxAge = null as unknown as number;
        res.end();
      });
    });
    const first = await fetch(`${h.base}/start`, { method: 'POST' });
    assert.deepEqual(await first.json(), {
      originalMaxAge: 60_000,
      maxAge: 60_000,
      httpOnly: true,
      path: '/',
      secure: false,
      sameSite: 'lax',
      json: 60_000,
    });
    const cookie = sessionCookie(first) as string;
    h.clock.advance(3_000); // under the touch interval (a tenth of the idle timeout): the load writes nothing
    assert.deepEqual(await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(), { a: 1, maxAge: 57_000 });
    h.clock.advance(61_000);
    assert.deepEqual(
      await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(),
      { a: null, maxAge: 1_800_000 },
      'idle for 61 s: ended',
    );
    const bad = await fetch(`${h.base}/bad`, { method: 'POST' });
    assert.equal(bad.status, 500);
    assert.ok(h.appErrors.some((error) => error instanceof InvalidOptionError));
  });

  it('touch() restarts the idle clock when the request saves', async () => {
    const h = await start((app) => {
      app.post('/start', async (req, res) => {
        bag(req).a = 1;
        bag(req).cookie.maxAge = 100_000;
        await bag(req).save();
        res.end();
      });
      app.post('/touch', async (req, res) => {
        bag(req).touch().touch();
        await bag(req).save();
        res.json({ maxAge: bag(req).cookie.maxAge });
      });
    });
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    h.clock.advance(5_000); // under the touch interval (a tenth of 100 s): the load itself writes nothing
    assert.deepEqual(await (await fetch(`${h.base}/touch`, { method: 'POST', headers: { cookie } })).json(), { maxAge: 100_000 });
  });

  it('a passport-style login (regenerate, set passport.user, save) and logout (delete, save, regenerate) work, and the pre-login token dies', async () => {
    const h = await start((app) => {
      app.post('/cart', async (req, res) => {
        bag(req).cart = ['apple'];
        await bag(req).save();
        res.end();
      });
      // What passport's SessionManager.logIn and logOut do, callbacks and all.
      app.post('/login', (req, res, next) => {
        bag(req).regenerate((error) => {
          if (error) return next(error);
          bag(req).passport = { user: (req.body as { user: string }).user };
          bag(req).save((saveError) => (saveError ? next(saveError) : res.redirect(303, '/me')));
        });
      });
      app.post('/logout', (req, res, next) => {
        delete (bag(req).passport as { user?: string }).user;
        bag(req).save((error) => {
          if (error) return next(error);
          bag(req).regenerate((regenerateError) => (regenerateError ? next(regenerateError) : res.redirect(303, '/me')));
        });
      });
      app.get('/me', (req, res) => res.json({ user: (bag(req).passport as { user?: string } | undefined)?.user ?? null }));
    });
    const anonymous = sessionCookie(await fetch(`${h.base}/cart`, { method: 'POST' })) as string;
    const login = await fetch(`${h.base}/login`, {
      method: 'POST',
      headers: { cookie: anonymous, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice' }),
      redirect: 'manual',
    });
    assert.equal(login.status, 303);
    const cookie = sessionCookie(login) as string;
    assert.ok(cookie && cookie !== anonymous, 'login issued a new token');
    assert.deepEqual(await (await fetch(`${h.base}/me`, { headers: { cookie } })).json(), { user: 'alice' });
    assert.deepEqual(
      await (await fetch(`${h.base}/me`, { headers: { cookie: anonymous } })).json(),
      { user: null },
      'fixation: the old token opens nothing',
    );
    const logout = await fetch(`${h.base}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    assert.equal(logout.status, 303);
    assert.deepEqual(await (await fetch(`${h.base}/me`, { headers: { cookie } })).json(), { user: null });
    assert.equal(await h.manager.count(), 0);
  });

  it('a store outage is 503 with Retry-After on load and on save(), never an empty session', async () => {
    let failing = false;
    const h = await start(
      (app) => {
        app.post('/start', async (req, res) => {
          bag(req).a = 1;
          await bag(req).save();
          res.end();
        });
        app.post('/save', async (req, res) => {
          failing = true;
          bag(req).a = 2;
          await bag(req).save();
          res.end();
        });
        app.get('/read', (req, res) => res.json({ a: bag(req).a ?? null }));
      },
      {},
      (store) => faultyStore(store, () => failing),
    );
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    const save = await fetch(`${h.base}/save`, { method: 'POST', headers: { cookie } });
    assert.equal(save.status, 503);
    assert.equal(save.headers.get('retry-after'), '1');
    const read = await fetch(`${h.base}/read`, { headers: { cookie } });
    assert.equal(read.status, 503);
    assert.equal(((await read.json()) as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE');
    failing = false;
    assert.deepEqual(await (await fetch(`${h.base}/read`, { headers: { cookie } })).json(), { a: 1 });
  });

  it("an end-of-request save that fails goes to next(error), as express-session's does", async () => {
    let failing = false;
    const h = await start(
      (app) => {
        app.post('/start', async (req, res) => {
          bag(req).a = 1;
          await bag(req).save();
          res.end();
        });
        app.post('/write', (req, res) => {
          failing = true;
          bag(req).a = 2;
          res.end('answered');
        });
      },
      {},
      (store) => faultyStore(store, () => failing),
    );
    const cookie = sessionCookie(await fetch(`${h.base}/start`, { method: 'POST' })) as string;
    assert.equal(await (await fetch(`${h.base}/write`, { method: 'POST', headers: { cookie } })).text(), 'answered');
    for (let i = 0; i < 10 && h.appErrors.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal((h.appErrors[0] as { code?: string } | undefined)?.code, 'STORE_UNAVAILABLE');
  });

  it('refuses options it does not have, and a request whose req.session is already set', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    assert.throws(() => session(manager, { secret: 'keyboard cat' } as CompatOptions), InvalidOptionError);
    assert.throws(() => session(manager, { saveUninitialized: 'yes' } as unknown as CompatOptions), InvalidOptionError);
    manager.close();
    const h = await start((app) => {
      app.use(session(new SessionManager({ store: new MemoryStore(), cleanupInterval: false })));
      app.get('/', (_req, res) => res.end());
    });
    assert.equal((await fetch(`${h.base}/`)).status, 500);
    assert.ok(h.appErrors[0] instanceof InvalidOptionError);
  });
});
