/**
 * The stores the demo can run on in tests, each with what the demo needs in its environment and a
 * way to dump everything the store holds as text (to search for tokens and plaintext).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StoreInstance {
  env: Record<string, string>;
  /** Every byte the store holds for this test, as text. */
  dump(): Promise<string>;
  cleanup(): Promise<void>;
}

export interface StoreTarget {
  name: string;
  /** A reason to skip, or false. */
  skip: string | false;
  create(): Promise<StoreInstance>;
}

function sqliteTarget(): StoreTarget {
  return {
    name: 'sqlite',
    skip: false,
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
      const path = join(dir, 'sessions.db');
      return {
        env: { TESSERA_STORE: `sqlite:${path}` },
        async dump() {
          // The database and its write-ahead log, as raw bytes.
          return readdirSync(dir)
            .map((file) => readFileSync(join(dir, file)).toString('latin1'))
            .join('\n');
        },
        async cleanup() {
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

const requireServices = process.env.TESSERA_REQUIRE_SERVICES === '1';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a service answers; when it does not, the target is skipped (or, in CI, fails). */
async function reachable(probe: () => Promise<void>, what: string): Promise<string | false> {
  try {
    await probe();
    return false;
  } catch (error) {
    const reason = `${what} not reachable: ${(error as Error).message}`;
    if (requireServices) throw new Error(`${reason} (TESSERA_REQUIRE_SERVICES=1)`);
    console.log(`# skipping: ${reason}`);
    return reason;
  }
}

/** Every key of one Redis node (those matching `match`, when given): its contents by type and its DUMP serialization. */
async function dumpRedis(url: string, match?: string): Promise<string> {
  const { createClient, RESP_TYPES } = await import('redis');
  const client = createClient({ url });
  await client.connect();
  try {
    const parts: string[] = [];
    for await (const batch of client.scanIterator({ ...(match === undefined ? {} : { MATCH: match }), COUNT: 500 })) {
      for (const key of batch) {
        const type = await client.type(key);
        if (type === 'hash') parts.push(JSON.stringify(await client.hGetAll(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await client.zRangeWithScores(key, 0, -1)));
        else if (type === 'string') parts.push(String(await client.get(key)));
        else if (type === 'set') parts.push(JSON.stringify(await client.sMembers(key)));
        const dumped = await client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).dump(key);
        if (dumped !== null) parts.push(key, Buffer.from(dumped as unknown as Buffer).toString('latin1'));
      }
    }
    return parts.join('\n');
  } finally {
    client.destroy();
  }
}

async function redisTarget(): Promise<StoreTarget> {
  const { createClient } = await import('redis');
  const skip = await reachable(async () => {
    const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 1000, reconnectStrategy: false } });
    await client.connect();
    await client.ping();
    await client.close();
  }, `Redis at ${REDIS_URL}`);
  return {
    name: 'redis',
    skip,
    async create() {
      const prefix = `tessera-e2e-${randomBytes(4).toString('hex')}:`;
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      const keys = async () => {
        const found: string[] = [];
        for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) found.push(...batch);
        return found;
      };
      return {
        env: { TESSERA_STORE: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}` },
        dump: () => dumpRedis(REDIS_URL, `${prefix}*`),
        async cleanup() {
          const found = await keys();
          if (found.length > 0) await client.del(found);
          await client.close();
        },
      };
    },
  };
}

/** A three-master Redis Cluster of the test's own, the demo on it through `redis-cluster://`. */
async function redisClusterTarget(): Promise<StoreTarget> {
  const { RedisServers, hasRedisServer } = await import('./redis-servers.js');
  let skip: string | false = false;
  if (!hasRedisServer()) {
    const reason = 'redis-server is not on PATH';
    if (requireServices) throw new Error(`${reason} (TESSERA_REQUIRE_SERVICES=1)`);
    console.log(`# skipping: ${reason}`);
    skip = reason;
  }
  return {
    name: 'redis-cluster',
    skip,
    async create() {
      const servers = new RedisServers();
      const ports = await servers.startCluster();
      return {
        env: { TESSERA_STORE: `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}` },
        async dump() {
          return (await Promise.all(ports.map((port) => dumpRedis(`redis://127.0.0.1:${port}`)))).join('\n');
        },
        async cleanup() {
          await servers.stopAll();
        },
      };
    },
  };
}

async function postgresTarget(): Promise<StoreTarget> {
  const { findDatabase, randomSchema, dropSchema } = await import('./postgres-db.js');
  const found = await findDatabase();
  let skip: string | false = false;
  if ('reason' in found) {
    if (requireServices) throw new Error(`${found.reason} (TESSERA_REQUIRE_SERVICES=1)`);
    console.log(`# skipping: ${found.reason}`);
    skip = found.reason;
  }
  const url = 'url' in found ? found.url : '';
  return {
    name: 'postgres',
    skip,
    async create() {
      const schema = randomSchema('tessera_e2e');
      const { default: pg } = await import('pg');
      return {
        env: { TESSERA_STORE: `${url}${url.includes('?') ? '&' : '?'}schema=${schema}` },
        async dump() {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          try {
            const rows = await client.query(`SELECT * FROM "${schema}".tessera_sessions`);
            return JSON.stringify(rows.rows);
          } finally {
            await client.end();
          }
        },
        async cleanup() {
          await dropSchema(url, schema);
        },
      };
    },
  };
}

export async function storeTargets(): Promise<StoreTarget[]> {
  return [sqliteTarget(), await redisTarget(), await redisClusterTarget(), await postgresTarget()];
}
