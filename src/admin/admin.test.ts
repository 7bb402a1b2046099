// The admin handler's pieces that need no service: the stats window, showData, the console hook.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import express from 'express';
import { ManualClock, SessionManager } from '../core/index.js';
import { MemoryStore } from '../stores/memory/index.js';
import { createAdminHandler, staticConsole } from './index.js';
import { sameOrigin } from './origin.js';
import { RecentEvents } from './stats.js';

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  mount = '',
): Promise<{ base: string; close(): Promise<void> }> {
  const app = express();
  if (mount === '') app.use(handler);
  else app.use(mount, handler);
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('recent event counts', () => {
  it('count this process’s events in a sliding hour, by kind and revoke reason', async () => {
    const clock = new ManualClock();
    const manager = new SessionManager({ store: new MemoryStore(), clock, cleanupInterval: false });
    const recent = new RecentEvents(manager);
    const session = await manager.load({ secure: false });
    await session.set('a', 1);
    await session.login('u1');
    clock.advance(30 * 60_000);
    const other = await manager.load({ secure: false });
    await other.login('u2');
    await manager.revoke(other.id as string, 'admin');
    assert.deepEqual(recent.counts(), {
      created: 1,
      loggedIn: 2,
      revoked: { logout: 0, user: 0, admin: 1, evicted: 0 },
      expired: 0,
      windowSeconds: 3600,
    });
    clock.advance(31 * 60_000);
    assert.equal(recent.counts().created, 0, 'the first half hour left the window');
    assert.equal(recent.counts().loggedIn, 1);
    assert.equal(recent.counts().revoked.admin, 1);
    recent.close();
    await manager.revoke(session.id as string, 'user');
    assert.equal(recent.counts().revoked.user, 0, 'closed: no longer counting');
    manager.close();
  });
});

describe('showData', () => {
  it('shows data values only when asked', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    const session = await manager.load({ secure: false });
    await session.login('u1');
    await session.set('theme', 'dark');
    for (const showData of [false, true]) {
      const server = await serve(createAdminHandler({ manager, authorize: () => true, showData }));
      const res = await fetch(`${server.base}/api/sessions/${session.id}`);
      const body = (await res.json()) as { session: { dataFields: unknown[] } };
      assert.deepEqual(body.session.dataFields, [showData ? { name: 'theme', bytes: 6, value: 'dark' } : { name: 'theme', bytes: 6 }]);
      await server.close();
    }
    manager.close();
  });
});

describe('the console hook', () => {
  it('serves index.html at the mount point, flat static files, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-console-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'no');
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    const handler = createAdminHandler({ manager, authorize: () => true, consolePage: staticConsole(pathToFileURL(`${dir}/`)) });
    const server = await serve(handler, '/admin');
    try {
      const redirect = await fetch(`${server.base}/admin?x=1`, { redirect: 'manual' });
      assert.equal(redirect.status, 308);
      assert.equal(redirect.headers.get('location'), '/admin/?x=1');
      const page = await fetch(`${server.base}/admin/`);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.equal(await page.text(), '<!doctype html><title>console</title>');
      const script = await fetch(`${server.base}/admin/app.js`);
      assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
      for (const path of ['secret.txt', 'missing.js', '..%2Fpackage.json', '.hidden.js']) {
        const res = await fetch(`${server.base}/admin/${path}`);
        assert.equal(res.status, 404, path);
        assert.equal(res.headers.get('cache-control'), 'no-store');
      }
      assert.equal((await fetch(`${server.base}/admin/`, { method: 'POST' })).status, 404);
    } finally {
      handler.close();
      await server.close();
      manager.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('consolePage: false answers 404 at the mount point; a function of the app’s own serves it', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    const none = await serve(createAdminHandler({ manager, authorize: () => true, consolePage: false }));
    assert.equal((await fetch(`${none.base}/`)).status, 404);
    await none.close();
    const own = await serve(
      createAdminHandler({
        manager,
        authorize: () => true,
        consolePage: async (_req, res, path) => {
          if (path !== '/') return false;
          res.end('mine');
          return true;
        },
      }),
    );
    assert.equal(await (await fetch(`${own.base}/`)).text(), 'mine');
    assert.equal((await fetch(`${own.base}/x.js`)).status, 404);
    await own.close();
    manager.close();
  });
});

describe('same-origin proof', () => {
  const request = (headers: Record<string, string>, extra: object = {}) =>
    ({ headers, socket: { encrypted: false }, ...extra }) as unknown as IncomingMessage;

  it('takes the scheme from the origin option, req.protocol, a trusted X-Forwarded-Proto, or the socket', () => {
    const https = { host: 'app.example', origin: 'https://app.example' };
    assert.equal(sameOrigin(request(https), {}), false, 'a plain-HTTP socket is not https');
    assert.equal(
      sameOrigin(request({ ...https, 'x-forwarded-proto': 'https' }), {}),
      false,
      'X-Forwarded-Proto is not believed by default',
    );
    assert.equal(sameOrigin(request({ ...https, 'x-forwarded-proto': 'https' }), { trustProxy: true }), true);
    assert.equal(sameOrigin(request(https, { protocol: 'https' }), {}), true, 'Express’s req.protocol');
    assert.equal(sameOrigin(request(https, { socket: { encrypted: true } }), {}), true);
    assert.equal(sameOrigin(request(https), { origin: 'https://app.example' }), true);
    assert.equal(
      sameOrigin(request({ ...https, host: 'evil.example' }), { origin: 'https://app.example' }),
      true,
      'the option wins over Host',
    );
    assert.equal(sameOrigin(request({ host: 'app.example', origin: 'https://evil.example' }), { origin: 'https://app.example' }), false);
    assert.equal(sameOrigin(request({ origin: 'http://app.example' }), {}), false, 'no Host, no own origin');
  });
});
