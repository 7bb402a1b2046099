/**
 * The stores the webhook suites run on, each a fresh, empty store per test on the machine's
 * services (a random Redis prefix, a random PostgreSQL schema, a new SQLite file), with what a child
 * process needs to open the same data (`env`, read by test/support/webhook-instance.ts). The
 * Redis Cluster target's cluster is the test file's own: started at the first test that needs it
 * and stopped by `teardown` after the file's tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionStore } from '../../src/core/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { PostgresStore } from '../../src/stores/postgres/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { SqliteStore } from '../../src/stores/sqlite/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './postgres-db.js';
import { localSkip, localUrl, rawClient } from './redis-local.js';
import { RedisServers, hasRedisServer, requireServices } from './redis-servers.js';

export interface WebhookStoreTarget {
  name: string;
  skip: string | false;
  /** False for the memory store: its sessions and outbox live and die with one process. */
  durable: boolean;
  /** A fresh, empty store's data: `open` opens a store object on it (several may be open at once). */
  create(): Promise<{ open(): SessionStore; env: Record<string, string>; cleanup(): Promise<void> }>;
  /** Stops what the target started for a file's tests (a suite calls it in `after`). */
  teardown?(): Promise<void>;
}

/** Skips the cluster target when redis-server is missing, unless services are required (then it runs and fails). */
function clusterSkip(): string | false {
  if (hasRedisServer()) return false;
  const reason = 'redis-server is not on PATH';
  console.log(`${reason}${requireServices ? '' : ': skipping the Redis Cluster webhook suites'}`);
  return requireServices ? false : reason;
}

/**
 * A three-master Redis Cluster shared by a file's tests, each on a prefix of its own: started by the
 * first `create` (a cluster takes seconds to form), its servers stopped by PID in `teardown`.
 */
function redisClusterTarget(): WebhookStoreTarget {
  let servers: RedisServers | null = null;
  let started: Promise<string[]> | null = null;
  const rootNodes = () => {
    servers = new RedisServers();
    return servers.startCluster(3).then((ports) => ports.map((port) => `redis://127.0.0.1:${port}`));
  };
  return {
    name: 'redis-cluster',
    skip: clusterSkip(),
    durable: true,
    async create() {
      started ??= rootNodes();
      const nodes = await started;
      const prefix = `tessera-webhooks-${randomBytes(4).toString('hex')}:`;
      return {
        open: () => new RedisStore({ cluster: { rootNodes: nodes }, prefix }),
        env: { WEBHOOK_STORE: 'redis-cluster', WEBHOOK_REDIS_NODES: nodes.join(','), WEBHOOK_REDIS_PREFIX: prefix },
        // The keys go with the cluster in teardown.
        cleanup: async () => {},
      };
    },
    async teardown() {
      await servers?.stopAll();
    },
  };
}

export async function webhookStoreTargets(): Promise<WebhookStoreTarget[]> {
  const redisSkip = await localSkip('the Redis webhook suites');
  const { url: pgUrl, skip: pgSkip } = await databaseOrSkip();
  return [
    {
      name: 'memory',
      skip: false,
      durable: false,
      async create() {
        const store = new MemoryStore();
        return { open: () => store, env: {}, cleanup: async () => {} };
      },
    },
    {
      name: 'sqlite',
      skip: false,
      durable: true,
      async create() {
        const dir = mkdtempSync(join(tmpdir(), 'tessera-webhooks-'));
        const path = join(dir, 'sessions.db');
        return {
          open: () => new SqliteStore({ path }),
          env: { WEBHOOK_STORE: 'sqlite', WEBHOOK_SQLITE_PATH: path },
          cleanup: async () => rmSync(dir, { recursive: true, force: true }),
        };
      },
    },
    {
      name: 'redis',
      skip: redisSkip,
      durable: true,
      async create() {
        const prefix = `tessera-webhooks-${randomBytes(4).toString('hex')}:`;
        return {
          open: () => new RedisStore({ url: localUrl, prefix }),
          env: { WEBHOOK_STORE: 'redis', WEBHOOK_REDIS_URL: localUrl, WEBHOOK_REDIS_PREFIX: prefix },
          async cleanup() {
            const client = await rawClient();
            const keys: string[] = [];
            for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...batch);
            if (keys.length > 0) await client.del(keys);
            client.destroy();
          },
        };
      },
    },
    redisClusterTarget(),
    {
      name: 'postgres',
      skip: pgSkip,
      durable: true,
      async create() {
        const schema = randomSchema('tessera_webhooks');
        const url = pgUrl as string;
        return {
          open: () => new PostgresStore({ connectionString: url, schema }),
          env: { WEBHOOK_STORE: 'postgres', WEBHOOK_PG_URL: url, WEBHOOK_PG_SCHEMA: schema },
          cleanup: () => dropSchema(url, schema),
        };
      },
    },
  ];
}
