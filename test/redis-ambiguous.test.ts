// Ambiguous failures (issue 20): a write that times out on the client may still run. With a short
// commandTimeout and `CLIENT PAUSE <ms> WRITE` sent from another client to a server of the test's own
// (one node, and one master of a three-master cluster), each write below is answered 503 while it
// waits in Redis, and runs once the server is unpaused:
// (a) a login refused nothing, so the user's retry logs in: no orphan session counts against the limit;
// (b) a login that failed evicted nobody: the user's other device stays logged in;
// (c) an increment retried with the same Idempotency-Key counts once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, createCluster } from 'redis';
import { ManualClock, SessionManager, type SessionManagerOptions } from '../src/core/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { slotOf } from '../src/stores/redis/slots.js';
import { RedisServers, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the ambiguous-failure tests`);

/** Short, so that a paused write is answered 503 quickly; the compensation retries past it. */
const COMMAND_TIMEOUT = 150;

interface Target {
  store: RedisStore;
  /** The port of the node that serves `subject`'s sessions. */
  portOf(subject: string): Promise<number>;
  close(): Promise<void>;
}

async function singleNode(servers: RedisServers): Promise<Target> {
  const port = await freePort();
  await servers.start(port);
  const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'amb:', commandTimeout: COMMAND_TIMEOUT });
  return { store, portOf: async () => port, close: () => store.close() };
}

async function cluster(servers: RedisServers): Promise<Target> {
  const ports = await servers.startCluster(3);
  const rootNodes = ports.map((p) => `redis://127.0.0.1:${p}`);
  const store = new RedisStore({ cluster: { rootNodes }, prefix: 'amb:', commandTimeout: COMMAND_TIMEOUT });
  const probe = createCluster({ rootNodes: rootNodes.map((url) => ({ url })) });
  probe.on('error', () => {});
  await probe.connect();
  return {
    store,
    async portOf(subject) {
      const slot = slotOf((await store.subjectPartition(subject)).slice(0, 2));
      const port = (probe.slots[slot]?.master as { port?: number } | undefined)?.port;
      assert.ok(port !== undefined, `a master serves slot ${slot}`);
      return port;
    },
    async close() {
      await store.close();
      await probe.close().catch(() => probe.destroy());
    },
  };
}

for (const [name, open] of [
  ['one node', singleNode],
  ['cluster, the master of the user paused', cluster],
] as const) {
  describe(`redis store, ${name}: a write answered 503 while the server is paused (CLIENT PAUSE WRITE)`, {
    skip: skip && !requireServices ? skip : false,
  }, () => {
    const servers = canSpawn ? new RedisServers() : null;
    let target: Target;
    const managers: SessionManager[] = [];
    const clock = new ManualClock();

    before(async () => {
      assert.ok(servers, 'redis-server is on PATH');
      target = await open(servers);
    });
    after(async () => {
      for (const m of managers) m.close();
      await target?.close();
      await servers?.stopAll();
    });

    const manager = (options: Partial<SessionManagerOptions> = {}) => {
      const m = new SessionManager({ store: target.store, clock, cleanupInterval: false, ...options });
      managers.push(m);
      return m;
    };
    const request = (m: SessionManager, token: string | null, idempotencyKey: string | null = null) =>
      m.load({ cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`, secure: false, idempotencyKey });
    const login = async (m: SessionManager, subject: string) => {
      const session = await request(m, null);
      await session.login(subject);
      return session.issuedToken as string;
    };
    /** Loads every script this user's node will run, so that none waits on a NOSCRIPT round trip while paused. */
    const warm = async (m: SessionManager, subject: string) => {
      const session = await request(m, await login(m, subject));
      await session.increment('warm');
      await session.logout();
    };
    /** Runs `write` with `subject`'s node paused for writes; unpauses once it has failed. */
    const whilePaused = async (subject: string, write: () => Promise<unknown>) => {
      const port = await target.portOf(subject);
      const admin = createClient({ url: `redis://127.0.0.1:${port}` });
      admin.on('error', () => {});
      await admin.connect();
      try {
        await admin.sendCommand(['CLIENT', 'PAUSE', '30000', 'WRITE']);
        await assert.rejects(write(), { code: 'STORE_UNAVAILABLE', status: 503 }, 'answered 503 while paused');
      } finally {
        await admin.sendCommand(['CLIENT', 'UNPAUSE']);
        admin.destroy();
      }
    };

    it("(a) a login with 'reject' and a limit of 1: no orphan is left, and the user's retry logs in", async () => {
      const m = manager({ maxSessionsPerSubject: 1, onLimit: 'reject' });
      await warm(m, 'ann');
      const attempt = await request(m, null);
      await whilePaused('ann', () => attempt.login('ann'));
      await m.settled();
      assert.equal(await target.store.count({ now: clock.now(), subject: 'ann' }), 0, 'no orphan session of the user');
      const retry = await request(m, null);
      await retry.login('ann');
      assert.equal(retry.subject, 'ann', 'the retry logs in (no 409)');
    });

    it("(b) a login with 'evict-oldest' and a limit of 1: the user's other device stays logged in", async () => {
      const m = manager({ maxSessionsPerSubject: 1, onLimit: 'evict-oldest' });
      await warm(m, 'bob');
      const device = await login(m, 'bob');
      const attempt = await request(m, null);
      await whilePaused('bob', () => attempt.login('bob'));
      await m.settled();
      assert.equal((await request(m, device)).subject, 'bob', 'the other device is still logged in');
      assert.equal(await target.store.count({ now: clock.now(), subject: 'bob' }), 1, 'and no orphan');
    });

    it('(c) an increment answered 503, retried with the same Idempotency-Key, counts once', async () => {
      const m = manager();
      const token = await login(m, 'cy');
      assert.equal(await (await request(m, token)).increment('n'), 1);
      const first = await request(m, token, 'retry-me');
      await whilePaused('cy', () => first.increment('n'));
      const retried = await request(m, token, 'retry-me');
      assert.equal(await retried.increment('n'), 2, 'the retry answers what the first attempt stored');
      assert.equal((await request(m, token)).get('n'), 2, 'the counter moved once');
    });
  });
}
