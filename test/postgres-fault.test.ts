import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SessionManager, StoreUnavailableError } from '../src/core/index.js';
import { PostgresStore, type SessionChange } from '../src/stores/postgres/index.js';
import { PostgresCluster, findPostgresBin } from './support/postgres-cluster.js';

const bin = await findPostgresBin();
let skip: string | false = false;
if (bin === null) {
  if (process.env.TESSERA_REQUIRE_SERVICES === '1')
    throw new Error('no PostgreSQL binaries under /usr/lib/postgresql (TESSERA_REQUIRE_SERVICES=1)');
  skip = 'no PostgreSQL binaries under /usr/lib/postgresql (set PG_BIN)';
  console.log(`# skipping the PostgreSQL fault test: ${skip}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Outcome {
  startedAt: number;
  ms: number;
  result: 'ok' | 'unavailable' | 'no-session' | 'other';
  error?: unknown;
}

describe('postgres store: the server stops under load and comes back', { skip, timeout: 120_000 }, () => {
  let cluster: PostgresCluster | null = null;
  const stores: PostgresStore[] = [];

  before(async () => {
    cluster = await PostgresCluster.create(bin as string);
    await cluster.start();
  });
  after(async () => {
    for (const store of stores.splice(0)) await store.close().catch(() => {});
    await cluster?.destroy();
  });

  it('fails fast with StoreUnavailableError while down, never "no session", and resumes by itself', async () => {
    const c = cluster as PostgresCluster;
    const store = new PostgresStore({ connectionString: c.url, connectionTimeout: 1000, statementTimeout: 1000, poolSize: 5 });
    const watcherStore = new PostgresStore({
      connectionString: c.url,
      connectionTimeout: 1000,
      statementTimeout: 1000,
      poolSize: 2,
      migrate: false,
    });
    stores.push(store, watcherStore);
    const manager = new SessionManager({ store, cleanupInterval: false });
    const first = await manager.load({ secure: false });
    await first.login('fault-user');
    const token = first.issuedToken as string;
    const cookie = `${manager.cookieName(false)}=${token}`;
    const changes: SessionChange[] = [];
    await watcherStore.watch((change) => void changes.push(change));

    const outcomes: Outcome[] = [];
    let running = true;
    const request = async (): Promise<Outcome> => {
      const startedAt = Date.now();
      try {
        const session = await manager.load({ cookie, secure: false });
        if (!session.isStored) return { startedAt, ms: Date.now() - startedAt, result: 'no-session' };
        await session.increment('hits');
        return { startedAt, ms: Date.now() - startedAt, result: 'ok' };
      } catch (error) {
        return { startedAt, ms: Date.now() - startedAt, result: error instanceof StoreUnavailableError ? 'unavailable' : 'other', error };
      }
    };
    // A bounded load: 6 workers, each one request at a time with a short pause.
    const workers = Array.from({ length: 6 }, async () => {
      while (running) {
        outcomes.push(await request());
        await sleep(10);
      }
    });

    try {
      await sleep(500);
      const up = outcomes.length;
      assert.ok(up > 0 && outcomes.every((o) => o.result === 'ok'), 'all requests succeed while the server is up');

      const stoppedAt = Date.now();
      await c.stop('immediate');
      const downFrom = Date.now();
      await sleep(2500);
      const restartAt = Date.now();
      const duringOutage = outcomes.filter((o) => o.startedAt >= downFrom && o.startedAt + o.ms <= restartAt);
      assert.ok(duringOutage.length >= 10, `requests ran during the outage: ${duringOutage.length}`);
      console.log(`# ${duringOutage.length} requests during the outage, slowest ${Math.max(...duringOutage.map((o) => o.ms))} ms`);
      for (const o of duringOutage) {
        assert.equal(o.result, 'unavailable', `a request during the outage: ${o.result} ${String(o.error)}`);
        assert.ok(o.ms < 3000, `failed fast: ${o.ms} ms`);
      }
      // Requests in flight when the server died may have finished either way, but only those two ways.
      for (const o of outcomes.filter((x) => x.startedAt >= stoppedAt - 1000)) {
        assert.ok(o.result === 'ok' || o.result === 'unavailable', `${o.result}: ${String(o.error)}`);
        assert.ok(o.ms < 3000, `no request hangs: ${o.ms} ms`);
      }

      await c.start();
      const startedAgain = Date.now();
      let resumedAt: number | null = null;
      while (resumedAt === null && Date.now() - startedAgain < 10_000) {
        const recent = outcomes.filter((o) => o.startedAt >= startedAgain && o.result === 'ok');
        if (recent.length >= 3) resumedAt = Date.now();
        else await sleep(100);
      }
      assert.ok(resumedAt !== null, 'service resumed within 10 s of the server starting');
      console.log(`# resumed ${resumedAt - startedAgain} ms after the server was back`);
      for (const o of outcomes.filter((x) => x.startedAt >= startedAgain)) {
        assert.ok(o.result === 'ok' || o.result === 'unavailable', `after restart: ${o.result}: ${String(o.error)}`);
      }
    } finally {
      running = false;
      await Promise.all(workers);
    }

    // The session survived (it is durable) and holds every increment that was acknowledged.
    const acknowledged = outcomes.filter((o) => o.result === 'ok').length;
    const after = await manager.load({ cookie, secure: false });
    assert.ok(after.isStored);
    assert.ok((after.get('hits') as number) >= acknowledged, `hits ${String(after.get('hits'))} >= ${acknowledged}`);

    // The LISTEN connection came back by itself too.
    const deadline = Date.now() + 10_000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      const probe = await manager.load({ secure: false });
      await probe.set('x', 1);
      const id = probe.id as string;
      await manager.revoke(id);
      await sleep(200);
      seen = changes.some((change) => change.id === id);
    }
    assert.ok(seen, 'watch() receives changes again after the restart');
    manager.close();
  });

  it('a statement stuck behind a lock is cancelled by statementTimeout and reported as unavailable', async () => {
    const c = cluster as PostgresCluster;
    const store = new PostgresStore({ connectionString: c.url, statementTimeout: 500, poolSize: 2 });
    stores.push(store);
    await store.count({ now: Date.now() });
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: c.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('LOCK TABLE public.tessera_sessions IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      await assert.rejects(store.load('y'.repeat(28), { now: Date.now() }), (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.equal((error.cause as { code?: string }).code, '57014');
        return true;
      });
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
    assert.equal(await store.load('y'.repeat(28), { now: Date.now() }), null, 'works again once the lock is gone');
  });

  it('a frozen server (accepting, never answering) fails requests within the timeouts, then resumes', async () => {
    const c = cluster as PostgresCluster;
    const store = new PostgresStore({ connectionString: c.url, connectionTimeout: 1000, statementTimeout: 1000, poolSize: 3 });
    stores.push(store);
    const manager = new SessionManager({ store, cleanupInterval: false });
    const session = await manager.load({ secure: false });
    await session.set('a', 1);
    const cookie = `${manager.cookieName(false)}=${session.issuedToken as string}`;
    await c.signal('SIGSTOP');
    try {
      // Pooled connections hit the client-side backstop; new ones the connect timeout.
      const results = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const started = Date.now();
          try {
            await (await manager.load({ cookie, secure: false })).set('b', 2);
            return { ok: true, ms: Date.now() - started, error: null as unknown };
          } catch (error) {
            return { ok: false, ms: Date.now() - started, error };
          }
        }),
      );
      for (const r of results) {
        assert.ok(!r.ok && r.error instanceof StoreUnavailableError, `failed as unavailable: ${String(r.error)}`);
        assert.ok(r.ms < 3000, `within the timeouts: ${r.ms} ms`);
      }
      console.log(`# frozen server: slowest failure ${Math.max(...results.map((r) => r.ms))} ms`);
    } finally {
      await c.signal('SIGCONT');
    }
    const deadline = Date.now() + 10_000;
    let resumed = false;
    while (!resumed && Date.now() < deadline) {
      try {
        resumed = (await manager.load({ cookie, secure: false })).get('a') === 1;
      } catch (error) {
        assert.ok(error instanceof StoreUnavailableError);
        await sleep(100);
      }
    }
    assert.ok(resumed, 'service resumed after the server thawed');
    manager.close();
  });
});
