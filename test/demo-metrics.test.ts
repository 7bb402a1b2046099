// The demo with TESSERA_METRICS=on: Prometheus text at GET /metrics from its own registry. Runs the
// built demo (build first: npx tsc -p tsconfig.build.json).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DemoClient } from './support/demo-client.js';
import { type DemoServer, startDemoServer } from './support/demo-server.js';

describe('demo: GET /metrics', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({ env: { TESSERA_METRICS: 'on' } });
  });
  after(() => server.dispose());

  it('serves the session metrics in Prometheus text, counting logins and logouts, with no session id in it', async () => {
    const alice = new DemoClient(() => server.url);
    assert.equal((await alice.post('/api/login', { username: 'alice' })).status, 200);
    const bob = new DemoClient(() => server.url);
    assert.equal((await bob.post('/api/login', { username: 'bob' })).status, 200);
    const bobToken = bob.token as string;
    assert.equal((await bob.post('/api/logout')).status, 204);
    const stale = new DemoClient(() => server.url);
    stale.token = bobToken;
    await stale.get('/api/session'); // an unknown token now

    const res = await fetch(new URL('/metrics', server.url));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE tessera_sessions_logged_in_total counter$/m);
    assert.match(text, /^tessera_sessions_logged_in_total 2$/m);
    assert.match(text, /^tessera_sessions_ended_total\{reason="logout"\} 1$/m);
    assert.match(text, /^tessera_unknown_tokens_total 1$/m);
    assert.match(text, /^tessera_sessions_live 1$/m);
    assert.match(text, /^tessera_store_operation_duration_seconds_count\{store="[a-z]+",operation="create"\} 2$/m);
    for (const token of [alice.token as string, bobToken]) {
      assert.ok(!text.includes(token.split('.')[0] as string), 'no session id');
      assert.ok(!text.includes(token.split('.')[1] as string), 'no secret');
    }
    assert.equal((await fetch(new URL('/metrics', server.url), { method: 'POST' })).status, 405);
  });
});

describe('demo: metrics off by default', () => {
  it('answers 404 at /metrics without TESSERA_METRICS=on', async () => {
    const server = await startDemoServer();
    try {
      assert.equal((await fetch(new URL('/metrics', server.url))).status, 404);
    } finally {
      await server.dispose();
    }
  });
});
