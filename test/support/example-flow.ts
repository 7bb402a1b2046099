// The flow every example app with the Express example's routes is driven through: a wrong
// password, a malformed body, a guarded route without a login, then a login, two increments, the
// session list, revoking the others, a logout, and the logged-out cookie refused.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startExample, stopExample } from './example-process.js';

const LOOPBACK = ['127.0.0.1', '::ffff:127.0.0.1'];

function cookieOf(response: Response): string {
  const [setCookie, ...more] = response.headers.getSetCookie();
  assert.equal(more.length, 0, 'one Set-Cookie');
  assert.ok(setCookie !== undefined, 'the response sets a cookie');
  return setCookie.split(';')[0] as string;
}

async function errorCode(response: Response): Promise<string> {
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  return ((await response.json()) as { error: { code: string } }).error.code;
}

/** Starts `app` (a path under examples/) and registers the flow's tests. */
export function runExampleFlow(app: string): void {
  describe(app, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-example-'));
    const db = join(dir, 'sessions.db');
    let child: ChildProcess | undefined;
    let base = '';

    before(async () => {
      ({ child, base } = await startExample(app, { PORT: '0', SESSIONS_DB: db }));
    });
    after(() => {
      stopExample(child);
      rmSync(dir, { recursive: true, force: true });
    });

    const post = (path: string, cookie?: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });

    it('refuses a wrong password and starts no session', async () => {
      const res = await post('/login', undefined, { username: 'alice', password: 'nope' });
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'BAD_CREDENTIALS');
      assert.equal(res.headers.get('set-cookie'), null);
    });

    it('answers a malformed body 400 in JSON, never 500', async () => {
      const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
      assert.equal(res.status, 400);
      assert.equal(await errorCode(res), 'BAD_REQUEST');
    });

    it('guards the session list: 401 NO_SESSION without a login', async () => {
      const res = await fetch(`${base}/me/sessions`);
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'NO_SESSION');
    });

    it('logs in, counts twice, lists the session with the client address, logs out and clears the cookie', async () => {
      const login = await post('/login', undefined, { username: 'alice', password: 'wonderland' });
      assert.equal(login.status, 200);
      assert.deepEqual(await login.json(), { ok: true });
      assert.match(login.headers.get('set-cookie') ?? '', /^tessera=[^;]+; Max-Age=43200; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.equal(login.headers.get('cache-control'), 'no-store');
      const cookie = cookieOf(login);

      for (const items of [1, 2]) {
        const cart = await post('/cart', cookie);
        assert.equal(cart.status, 200);
        assert.deepEqual(await cart.json(), { items });
      }

      const page = (await (await fetch(`${base}/me/sessions`, { headers: { cookie } })).json()) as {
        sessions: Array<{ subject: string; displayName: string; current: boolean; lastDevice: { ip: string | null } }>;
        nextCursor: string | null;
      };
      assert.equal(page.nextCursor, null);
      assert.deepEqual(
        page.sessions.map((s) => [s.subject, s.displayName, s.current]),
        [['user-1', 'Alice', true]],
      );
      assert.ok(LOOPBACK.includes(page.sessions[0]?.lastDevice.ip ?? ''), `the socket's address, not ${page.sessions[0]?.lastDevice.ip}`);
      assert.deepEqual(await (await post('/me/logout-others', cookie)).json(), { revoked: 0 });
      assert.ok(existsSync(db), 'sessions live in the SQLite file the example was given');

      const logout = await post('/logout', cookie);
      assert.equal(logout.status, 204);
      assert.match(logout.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0; Path=\//);

      // The logged-out cookie opens nothing: this request has no session, and its answer clears the cookie.
      const stale = await fetch(`${base}/me/sessions`, { headers: { cookie } });
      assert.equal(stale.status, 401);
      assert.equal(await errorCode(stale), 'NO_SESSION');
      assert.match(stale.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0; Path=\//);
    });

    it('stops on SIGTERM', async () => {
      assert.ok(child !== undefined);
      const running = child;
      const exited = new Promise<number | null>((resolve) => running.once('exit', (code) => resolve(code)));
      running.kill('SIGTERM');
      assert.equal(await exited, 0);
    });
  });
}
