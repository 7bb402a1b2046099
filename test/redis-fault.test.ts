// Redis (and Valkey) killed under load and started again: requests fail fast with StoreUnavailableError, then service resumes by itself.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { ManualClock, SessionManager, StoreUnavailableError } from '../src/core/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { firstHeldAt, loadAndIncrement, type Outcome } from './support/fault-load.js';
import { RedisServers, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A request from 127.0.0.1 carrying `token` as its cookie (none when null). */
function requestWith(manager: SessionManager, token: string | null, setCookie: (value: string) => void = () => {}) {
  return manager.load({
    cookie: token === null ? undefined : `${manager.cookieName(false)}=${token}`,
    secure: false,
    ip: '127.0.0.1',
    setCookie,
  });
}

// The same faults on Valkey's server, which .ci/run installs (see test/valkey-store.test.ts).
for (const binary of ['redis-server', 'valkey-server'] as const) {
  const canSpawn = hasRedisServer(binary);
  const skip = canSpawn ? false : `${binary} is not on PATH`;
  if (skip && !requireServices) console.log(`${skip}: skipping its fault test`);

  describe(`${binary}: faults`, { skip: skip && !requireServices ? skip : false }, () => {
    const servers = canSpawn ? new RedisServers(binary) : null;
    // Persisted on every write, so the session outlives the kill.
    const persistence = ['--appendonly', 'yes', '--appendfsync', 'always'];
    let port = 0;
    let server: ChildProcess;
    let store: RedisStore;
    let manager: SessionManager;
    const cookies: string[] = [];

    before(async () => {
      assert.ok(servers, `${binary} is on PATH`);
      port = await freePort();
      server = await servers.start(port, persistence);
      store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'fault:', commandTimeout: 500 });
      manager = new SessionManager({ store, cleanupInterval: false, bruteForceLimit: false });
    });
    after(async () => {
      manager?.close();
      await store?.close();
      await servers?.stopAll();
    });

    const request = (token: string | null) => requestWith(manager, token, (c) => cookies.push(c));

    it('fails fast while Redis is down, never as "no session", and resumes within 2 s of its return', async () => {
      assert.ok(servers);
      const first = await request(null);
      await first.login('fault-user');
      const token = first.issuedToken as string;
      await (await request(token)).increment('n');
      cookies.length = 0;

      const outcomes: Outcome[] = [];
      let stop = false;
      const workers = Array.from({ length: 8 }, () =>
        loadAndIncrement(
          'fault-user',
          () => request(token),
          outcomes,
          () => stop,
        ),
      );

      await sleep(300);
      const killedAt = performance.now();
      await servers.kill(server);
      await sleep(1000);
      const restartAt = performance.now();
      server = await servers.start(port, persistence);
      // Poll until a request succeeds again, for at most 2 s after the restart.
      const resumedAt = await firstHeldAt(() => outcomes.some((o) => o.kind === 'ok' && o.at > restartAt), restartAt + 2000, 20);
      await sleep(200);
      stop = true;
      await Promise.all(workers);

      const during = outcomes.filter((o) => o.at >= killedAt && o.at < restartAt);
      const failures = outcomes.filter((o) => o.kind === 'unavailable');
      const slowest = Math.max(0, ...failures.map((o) => o.ms));
      console.log(
        `outcomes: ${outcomes.length} (ok ${outcomes.filter((o) => o.kind === 'ok').length}, unavailable ${failures.length}), slowest failure ${slowest.toFixed(1)} ms, resumed ${resumedAt === null ? 'never' : `${(resumedAt - restartAt).toFixed(0)} ms after the restart`}`,
      );
      assert.deepEqual(
        outcomes.filter((o) => o.kind === 'other').map((o) => String(o.error)),
        [],
        'only StoreUnavailableError',
      );
      assert.equal(outcomes.filter((o) => o.kind === 'no-session').length, 0, 'an outage is never "no session"');
      assert.ok(
        during.length > 0 && during.every((o) => o.kind === 'unavailable'),
        'every request while Redis was down failed with StoreUnavailableError',
      );
      assert.ok(slowest < 1500, `each failure within 1.5 s (slowest ${slowest} ms)`);
      assert.ok(!cookies.some((c) => /Max-Age=0/i.test(c)), 'no request cleared the cookie');
      assert.notEqual(resumedAt, null, 'service resumed within 2 s');

      // The session survived (append-only file) with every acknowledged increment.
      const after = await request(token);
      assert.equal(after.subject, 'fault-user');
      const acknowledged = outcomes.filter((o) => o.kind === 'ok').length;
      assert.ok((after.get('n') as number) >= 1 + acknowledged, `counter ${String(after.get('n'))} >= ${1 + acknowledged}`);
    });

    it('a frozen Redis (SIGSTOP) fails each request at the command timeout, and service resumes on SIGCONT', async () => {
      const first = await request(null);
      await first.login('frozen-user');
      const token = first.issuedToken as string;
      assert.ok(server.pid);
      process.kill(server.pid, 'SIGSTOP');
      try {
        const started = performance.now();
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, () => request(token).then((session) => session.increment('n'))),
        );
        const elapsed = performance.now() - started;
        console.log(`20 requests against a frozen Redis settled in ${elapsed.toFixed(0)} ms`);
        for (const result of results) {
          assert.equal(result.status, 'rejected');
          assert.ok(
            result.status === 'rejected' && result.reason instanceof StoreUnavailableError,
            String(result.status === 'rejected' ? result.reason : ''),
          );
        }
        // commandTimeout is 500 ms; the watchdog checks every 50 ms.
        assert.ok(elapsed >= 450 && elapsed < 1500, `failed at the timeout, not before or long after (${elapsed.toFixed(0)} ms)`);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      const resumedFrom = performance.now();
      let session = null;
      while (performance.now() - resumedFrom < 2000) {
        try {
          session = await request(token);
          break;
        } catch {
          await sleep(20);
        }
      }
      assert.ok(session?.isStored, 'service resumed within 2 s of SIGCONT');
      assert.equal(session.subject, 'frozen-user');
    });

    it('a store whose Redis is down from the start fails within the command timeout', async () => {
      const deadPort = await freePort();
      const dead = new RedisStore({ url: `redis://127.0.0.1:${deadPort}`, commandTimeout: 300 });
      try {
        const m = new SessionManager({ store: dead, cleanupInterval: false });
        const started = performance.now();
        await assert.rejects(
          m.load({ cookie: `${m.cookieName(false)}=${'A'.repeat(28)}.${'B'.repeat(43)}`, secure: false }),
          StoreUnavailableError,
        );
        assert.ok(performance.now() - started < 1000);
        await assert.rejects(m.count(), StoreUnavailableError);
        m.close();
      } finally {
        await dead.close();
      }
    });
  });

  describe(`${binary}: full (maxmemory-policy noeviction)`, { skip: skip && !requireServices ? skip : false }, () => {
    it('refuses logins and writes before they start, as StoreUnavailableError; reads, touches, revokes, counts and sweeps go on', async () => {
      const servers = new RedisServers(binary);
      const port = await freePort();
      await servers.start(port, ['--maxmemory-policy', 'noeviction']);
      const url = `redis://127.0.0.1:${port}`;
      const admin = createClient({ url });
      admin.on('error', () => {});
      await admin.connect();
      const clock = new ManualClock();
      const store = new RedisStore({ url, prefix: 'full:' });
      const manager = new SessionManager({ store, clock, cleanupInterval: false, bruteForceLimit: false, idleTimeout: 1800 });
      const request = (token: string | null) => requestWith(manager, token);
      try {
        const first = await request(null);
        await first.login('full-user');
        await first.increment('n');
        const token = first.issuedToken as string;
        const second = await request(null);
        await second.login('full-user');
        const keys = await admin.dbSize();

        // Any write that could grow memory is now refused.
        await admin.configSet('maxmemory', '1');
        // A login's script first trims the subject's index, a write that frees memory; without
        // flags on the script, Redis checked only that first write and let every login through.
        await assert.rejects((await request(null)).login('other-user'), StoreUnavailableError);
        await assert.rejects((await request(null)).login('full-user'), StoreUnavailableError);
        await assert.rejects((await request(token)).increment('n'), StoreUnavailableError);
        assert.equal(await admin.dbSize(), keys, 'nothing was written');

        clock.advance(600_000); // a touch is due
        const read = await request(token);
        assert.equal(read.subject, 'full-user', 'still logged in');
        assert.equal(read.get('n'), 1);
        assert.equal((await store.load(read.id as string, { now: clock.now() }))?.lastSeenAt, clock.now(), 'touched');
        assert.equal(await manager.count(), 2);
        assert.equal((await manager.list('full-user')).sessions.length, 2);
        // An instance started now reads the partition key with a plain GET, which a full Redis allows.
        const fresh = new RedisStore({ url, prefix: 'full:' });
        try {
          assert.equal((await fresh.listBySubject('full-user', { now: clock.now(), limit: 10 })).sessions.length, 2);
        } finally {
          await fresh.close();
        }
        assert.equal(await manager.revoke(second.id as string), true);
        clock.advance(1800_000);
        assert.equal(await manager.sweep(), 1);
        assert.equal(await manager.count(), 0);

        await admin.configSet('maxmemory', '0');
        const again = await request(null);
        await again.login('full-user');
        assert.equal(await again.increment('n'), 1, 'writes resume once there is room');
      } finally {
        manager.close();
        await store.close();
        admin.destroy();
        await servers.stopAll();
      }
    });
  });
}
