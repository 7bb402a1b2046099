// Runs examples/express/app.ts as its own process, as a reader of the README would, and drives it
// over HTTP. It imports tessera by its package names, which resolve to the build (`npm test` builds
// first).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startExample } from './support/example-process.js';

const built = new URL('../dist/src/core/index.js', import.meta.url);

function cookieOf(response: Response): string {
  const setCookie = response.headers.get('set-cookie');
  assert.ok(setCookie !== null, 'the response sets a cookie');
  return setCookie.split(';')[0] as string;
}

describe('examples/express', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-example-'));
  const db = join(dir, 'sessions.db');
  let child: ChildProcess;
  let base = '';

  before(async () => {
    assert.ok(existsSync(built), 'the example imports tessera from the build: run `npm run build` first (`npm test` does)');
    ({ child, base } = await startExample('examples/express/app.ts', { PORT: '0', SESSIONS_DB: db }));
  });
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
    assert.equal(res.headers.get('set-cookie'), null);
  });

  it("answers a malformed body with its 400 in JSON, through the app's handler after errorHandler()", async () => {
    const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  });

  it('guards the session list with requireAuth(): 401 NO_SESSION without a login', async () => {
    const res = await fetch(`${base}/me/sessions`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NO_SESSION');
  });

  it('logs in, counts twice, lists the session, logs out and clears the cookie', async () => {
    const login = await post('/login', undefined, { username: 'alice', password: 'wonderland' });
    assert.equal(login.status, 200);
    assert.deepEqual(await login.json(), { ok: true });
    assert.match(login.headers.get('set-cookie') ?? '', /^tessera=[^;]+; Max-Age=43200; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = cookieOf(login);

    for (const items of [1, 2]) {
      const cart = await post('/cart', cookie);
      assert.equal(cart.status, 200);
      assert.deepEqual(await cart.json(), { items });
    }

    const page = (await (await fetch(`${base}/me/sessions`, { headers: { cookie } })).json()) as {
      sessions: Array<{ subject: string; displayName: string; current: boolean }>;
      nextCursor: string | null;
    };
    assert.equal(page.nextCursor, null);
    assert.deepEqual(
      page.sessions.map((s) => [s.subject, s.displayName, s.current]),
      [['user-1', 'Alice', true]],
    );
    assert.deepEqual(await (await post('/me/logout-others', cookie)).json(), { revoked: 0 });
    assert.ok(existsSync(db), 'sessions live in the SQLite file the example was given');

    const logout = await post('/logout', cookie);
    assert.equal(logout.status, 204);
    assert.match(logout.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0; Path=\//);

    // The logged-out cookie opens nothing: this request has no session, and its answer clears the cookie.
    const stale = await fetch(`${base}/me/sessions`, { headers: { cookie } });
    assert.equal(stale.status, 401);
    assert.equal(((await stale.json()) as { error: { code: string } }).error.code, 'NO_SESSION');
    assert.match(stale.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0; Path=\//);
  });

  it('stops on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
