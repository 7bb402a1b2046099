// The session cache across app instances (issue 24): three instances of
// test/support/cache-instance.mjs, separate processes running the build in dist/, on one Redis, one
// Redis Cluster (started here) and one PostgreSQL, with the cache on. A session revoked on one
// (logout, revoke one, revoke all, eviction by the per-user limit) stops being answered on the
// others, and never after maxStaleness (the test's clock); with the channel cut from the server
// side, the cut instance flushes, serves nothing from its cache until the channel is back, and
// refuses the session revoked meanwhile; concurrent increments through all three add up. No timing
// is asserted beyond the staleness bound: bench/cache-revocation.mjs measures how soon.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createClient } from 'redis';
import { RedisKeys } from '../src/stores/redis/keys.js';
import {
  allServing,
  eventually,
  expectGone,
  startCacheInstance,
  warm,
  type CacheInstance,
  type ChannelConnection,
} from './support/cache-instances.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';
import { localSkip, localUrl } from './support/redis-local.js';
import { RedisServers, hasRedisServer, requireServices } from './support/redis-servers.js';

const MAX_STALENESS = 1000;
const KINDS = ['logout', 'revoke one', 'revoke all', 'eviction'] as const;
const run = randomBytes(4).toString('hex');

/** A connection of an instance's channel to cut, and how. */
interface Cut {
  what: string;
  /** The connection to kill among the instance's: on the node holding session `id`, or on `node` when given. */
  pick(connections: ChannelConnection[], id: string, node?: string): Promise<ChannelConnection | undefined>;
}

interface Target {
  name: string;
  skip: string | false;
  /** Starts what the store needs; the instances' environment. */
  setup(): Promise<Record<string, string>>;
  kill(connection: ChannelConnection): Promise<void>;
  cuts: Cut[];
  teardown(): Promise<void>;
}

/**
 * Cuts of a Redis instance's channel on the node holding the session (`nodeOf`; null: the only
 * node): its subscriber connection, its data connection.
 */
function redisCuts(nodeOf: (id: string) => Promise<string | null>): Cut[] {
  const on = (which: 'subscriber' | 'data') => async (connections: ChannelConnection[], id: string, given?: string) => {
    const node = given ?? (await nodeOf(id));
    return connections.find(
      (c) => (node === null || c.node === node) && (which === 'subscriber' ? c.sub === 1 : c.sub === 0 && (c.flags ?? '').includes('t')),
    );
  };
  return [
    { what: 'its subscriber connection killed (CLIENT KILL ID)', pick: on('subscriber') },
    { what: 'its data connection killed (CLIENT KILL ID)', pick: on('data') },
  ];
}

function redisTarget(skip: string | false): Target {
  const prefix = `tcm:${run}:`;
  let admin: ReturnType<typeof createClient> | null = null;
  return {
    name: 'Redis',
    skip,
    async setup() {
      admin = createClient({ url: localUrl });
      admin.on('error', () => {});
      await admin.connect();
      return { CACHE_STORE: 'redis', CACHE_URL: localUrl, CACHE_PREFIX: prefix };
    },
    async kill(connection) {
      await admin?.sendCommand(['CLIENT', 'KILL', 'ID', String(connection.id)]);
    },
    cuts: redisCuts(async () => null),
    async teardown() {
      if (admin === null) return;
      for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (batch.length > 0) await admin.unlink(batch);
      await admin.close();
    },
  };
}

function clusterTarget(skip: string | false): Target {
  const prefix = `tcm:${run}:`;
  const keys = new RedisKeys(prefix);
  const servers = skip ? null : new RedisServers();
  const ports: number[] = [];
  const node = (port: number) => `127.0.0.1:${port}`;
  const portOf = (name: string | undefined) => Number(name?.split(':')[1]);
  return {
    name: 'Redis Cluster (3 masters)',
    skip,
    async setup() {
      assert.ok(servers, 'redis-server is on PATH');
      ports.push(...(await servers.startCluster(3, ['--cluster-node-timeout', '2000'])));
      return { CACHE_STORE: 'cluster', CACHE_NODES: ports.map((port) => `redis://${node(port)}`).join(','), CACHE_PREFIX: prefix };
    },
    async kill(connection) {
      await servers?.cli(portOf(connection.node), 'CLIENT', 'KILL', 'ID', String(connection.id));
    },
    cuts: redisCuts(async (id) => {
      for (const port of ports) if ((await servers?.cli(port, 'EXISTS', keys.session(id)))?.trim() === '1') return node(port);
      throw new Error(`no master holds session ${id}`);
    }),
    async teardown() {
      await servers?.stopAll();
    },
  };
}

function postgresTarget(url: string | null, skip: string | false): Target {
  const schema = randomSchema('tessera_cache_multi');
  let admin: pg.Pool | null = null;
  return {
    name: 'PostgreSQL',
    skip,
    async setup() {
      assert.ok(url);
      admin = new pg.Pool({ connectionString: url, max: 1 });
      admin.on('error', () => {});
      return { CACHE_STORE: 'postgres', CACHE_URL: url, CACHE_SCHEMA: schema };
    },
    async kill(connection) {
      const { rows } = await (admin as pg.Pool).query('SELECT pg_terminate_backend($1) AS done', [connection.pid]);
      assert.equal(rows[0]?.done, true, `backend ${connection.pid} was not terminated`);
    },
    cuts: [
      {
        what: 'its LISTEN backend terminated (pg_terminate_backend)',
        // The LISTEN connection: its last statement is its LISTEN or the probe's trigger check.
        pick: async (connections) => connections.find((c) => /^LISTEN\b/i.test(c.query ?? '') || (c.query ?? '').includes('pg_trigger')),
      },
    ],
    async teardown() {
      await admin?.end();
      if (url !== null) await dropSchema(url, schema);
    },
  };
}

const redisSkip = await localSkip('the multi-instance cache suite on Redis');
const clusterSkip = hasRedisServer() ? false : 'redis-server is not on PATH';
if (clusterSkip && !requireServices) console.log(`${clusterSkip}: skipping the multi-instance cache suite on Redis Cluster`);
const database = await databaseOrSkip();

const targets: Target[] = [
  redisTarget(redisSkip),
  clusterTarget(clusterSkip && !requireServices ? clusterSkip : false),
  postgresTarget(database.url, database.skip),
];

for (const target of targets) {
  describe(`cache across three instances: ${target.name}`, { skip: target.skip }, () => {
    const instances: CacheInstance[] = [];
    let n = 0;
    const subject = (what: string) => `${what}-${run}-${++n}`;

    before(async () => {
      const env = await target.setup();
      for (let i = 0; i < 3; i++) {
        const label = `${target.name} instance ${i}`;
        const name = `tcm-${run}-${target.name.split(' ')[0]}-${i}`;
        instances.push(await startCacheInstance({ ...env, CACHE_MAX_STALENESS: String(MAX_STALENESS), CACHE_NAME: name }, label));
      }
      await allServing(instances);
    });
    after(async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
      await target.teardown();
    });

    for (const kind of KINDS) {
      it(`a session ended by ${kind} on one instance is refused by the others, never after maxStaleness`, async () => {
        for (let round = 0; round < 3; round++) {
          const revoker = instances[round] as CacheInstance;
          const others = instances.filter((instance) => instance !== revoker);
          const user = subject(kind.replace(' ', '-'));
          const { token, id } = await revoker.login(user);
          for (const other of others) await warm(other, token);
          if (kind === 'logout') assert.equal((await revoker.call<{ ok: boolean }>('POST', '/logout', token)).ok, true);
          else if (kind === 'revoke one')
            assert.equal((await revoker.call<{ revoked: boolean }>('POST', `/revoke?id=${id}`)).revoked, true);
          else if (kind === 'revoke all')
            assert.equal((await revoker.call<{ count: number }>('POST', `/revoke-all?subject=${user}`)).count, 1);
          else await revoker.login(user, true);
          const revokedAt = Date.now();
          await Promise.all(others.map((other) => expectGone(other, token, revokedAt, MAX_STALENESS)));
          // The revoker itself answers from its own cache's update, at once.
          assert.equal((await revoker.read(token)).isStored, false);
        }
      });
    }

    it('200 concurrent increments of one session spread over the three instances add exactly 200', async () => {
      const [first] = instances as [CacheInstance];
      const { token } = await first.login(subject('inc'));
      for (const instance of instances) await warm(instance, token);
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (instances[i % 3] as CacheInstance).request('POST', '/inc', token)),
      );
      for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const values = answers.map((answer) => answer.body.n as number).sort((a, b) => a - b);
      assert.deepEqual(
        values,
        Array.from({ length: 200 }, (_, i) => i + 1),
        'each increment answers the value right after it, once each',
      );
      const checkedAt = Date.now();
      for (const instance of instances) {
        await eventually(`${instance.label} to read n = 200`, async () => {
          const sentAt = Date.now();
          const { n: value } = await instance.read(token);
          assert.ok(value <= 200, `${instance.label} read n = ${value}`);
          if (value === 200) return true;
          assert.ok(sentAt - checkedAt < MAX_STALENESS, `${instance.label} read n = ${value} after maxStaleness`);
          return undefined;
        });
      }
    });

    for (const [index, cut] of target.cuts.entries()) {
      it(`with ${cut.what}, an instance flushes, serves nothing from its cache until the channel is back, and refuses a session revoked meanwhile`, async () => {
        await allServing(instances);
        const [a, b] = instances as [CacheInstance, CacheInstance];
        const revoked = await a.login(subject(`cut-x${index}`));
        const kept = await a.login(subject(`cut-w${index}`));
        await warm(b, revoked.token);
        await warm(b, kept.token);
        const before = await b.stats();
        const connection = await cut.pick(await b.connections(), revoked.id);
        assert.ok(connection, `no connection to cut among ${JSON.stringify(await b.connections())}`);
        await target.kill(connection);
        await a.call('POST', '/logout', revoked.token);
        const revokedAt = Date.now();

        await eventually('the cut instance to flush', async () => ((await b.stats()).flushes > before.flushes ? true : undefined));
        // Everything was dropped: the next read goes to the store, whatever the channel does meanwhile.
        const first = await b.read(kept.token);
        assert.equal(first.isStored, true);
        assert.equal(first.servedFromCache, false, 'the first read after the flush came from the cache');
        await expectGone(b, revoked.token, revokedAt, MAX_STALENESS);
        // Until the channel is back, answers are not kept: each read goes to the store.
        await eventually('the cut instance to serve from its cache again', async () => {
          const answer = await b.read(kept.token);
          assert.equal(answer.isStored, true);
          if (answer.servedFromCache) assert.equal(answer.stats.serving, true);
          return answer.servedFromCache ? true : undefined;
        });
        assert.equal((await b.read(revoked.token)).isStored, false);
        const replacement = await cut.pick(await b.connections(), kept.id, connection.node);
        assert.ok(replacement, 'the channel has a connection again');
        assert.ok(
          replacement.id !== connection.id || replacement.pid !== connection.pid,
          `the channel is on a new connection (killed ${JSON.stringify(connection)}, now ${JSON.stringify(replacement)})`,
        );
      });
    }
  });
}
