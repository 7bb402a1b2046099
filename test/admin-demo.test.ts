// The demo mounts the admin API at /admin/ for the usernames in TESSERA_ADMINS (runs the build in dist/).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DemoClient } from './support/demo-client.js';
import { type DemoServer, runDemoExpectingFailure, startDemoServer } from './support/demo-server.js';

describe('the demo without TESSERA_ADMINS', () => {
  let demo: DemoServer;
  before(async () => {
    demo = await startDemoServer();
  });
  after(() => demo.dispose());

  it('answers 404 at /admin/ and below, even to a logged-in user, and shows no link', async () => {
    const client = new DemoClient(() => demo.url);
    const login = await client.login('root');
    assert.equal(login.status, 200);
    assert.equal(login.body.admin, false);
    for (const path of ['/admin/', '/admin/api/stats', '/admin/api/sessions']) {
      assert.equal((await client.get(path)).status, 404, path);
    }
  });
});

describe('the demo with TESSERA_ADMINS', () => {
  let demo: DemoServer;
  before(async () => {
    demo = await startDemoServer({ env: { TESSERA_ADMINS: 'root, ops' } });
  });
  after(() => demo.dispose());

  it('lets a listed user use the API, 403 for another, 401 without a session; revokes with same-origin proof', async () => {
    const anonymous = new DemoClient(() => demo.url);
    const none = await anonymous.get('/admin/api/stats');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('cache-control'), 'no-store');

    const user = new DemoClient(() => demo.url, 'Browser/alice');
    const userLogin = await user.login('alice');
    assert.equal(userLogin.body.admin, false);
    assert.equal((await user.get('/api/session')).body.admin, false);
    const forbidden = await user.get('/admin/api/sessions');
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.code, 'FORBIDDEN');

    const admin = new DemoClient(() => demo.url, 'Browser/ops');
    const adminLogin = await admin.login('ops');
    assert.equal(adminLogin.body.admin, true, 'the page shows the console link');
    assert.equal((await admin.get('/api/session')).body.admin, true);

    const list = await admin.get('/admin/api/sessions?q=ali');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.sessions.map((s: { subject: string; userAgent: string }) => [s.subject, s.userAgent]),
      [['alice', 'Browser/alice']],
    );
    const aliceId = list.body.sessions[0].id as string;
    const stats = await admin.get('/admin/api/stats');
    assert.equal(stats.status, 200);
    assert.equal(stats.body.live, 2);
    assert.equal(stats.body.recent.loggedIn, 2);

    assert.equal((await admin.delete(`/admin/api/sessions/${aliceId}`)).status, 403, 'no same-origin proof');
    assert.equal((await user.get('/api/session')).status, 200, 'alice is still logged in');
    const revoked = await admin.delete(`/admin/api/sessions/${aliceId}`, { headers: { origin: demo.url } });
    assert.equal(revoked.status, 204);
    assert.equal((await user.get('/api/session')).status, 401, 'alice was logged out');
    assert.equal((await admin.get('/admin/api/stats')).body.recent.revoked.admin, 1);
  });

  it('redirects /admin to /admin/ for the console’s relative links', async () => {
    const admin = new DemoClient(() => demo.url);
    await admin.login('root');
    const res = await admin.get('/admin?x=1');
    assert.equal(res.status, 308);
    assert.equal(res.headers.get('location'), '/admin/?x=1');
  });
});

describe('the demo with a malformed TESSERA_ADMINS', () => {
  it('refuses to start, naming the variable', async () => {
    const failed = await runDemoExpectingFailure({ TESSERA_ADMINS: 'root,bad name' });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /TESSERA_ADMINS must be comma-separated usernames/);
  });
});
