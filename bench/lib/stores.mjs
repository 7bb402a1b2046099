// Opens tessera's stores from the built package for the servers and the scale measurements.
// A store whose module is not built yet skips the variant (see importOrSkip).
import { env, importOrSkip, pick } from './server-common.mjs';

/** Some stores prepare themselves lazily, others expose a start step; await it when present. */
async function started(store) {
  for (const name of ['ready', 'migrate', 'init']) {
    if (typeof store[name] === 'function') {
      await store[name]();
      break;
    }
  }
  return store;
}

export async function openRedisStore(options = {}) {
  const mod = await importOrSkip('tessera/stores/redis');
  const RedisStore = pick(mod, ['RedisStore', 'default'], 'tessera/stores/redis');
  return started(new RedisStore({ url: env.redisUrl, prefix: env.prefix, ...options }));
}

export async function openSqliteStore(options = {}) {
  const mod = await importOrSkip('tessera/stores/sqlite');
  const SqliteStore = pick(mod, ['SqliteStore', 'default'], 'tessera/stores/sqlite');
  return started(new SqliteStore({ path: env.sqlitePath, ...options }));
}

export async function openPostgresStore(options = {}) {
  const mod = await importOrSkip('tessera/stores/postgres');
  const PostgresStore = pick(mod, ['PostgresStore', 'default'], 'tessera/stores/postgres');
  return started(new PostgresStore({ connectionString: env.databaseUrl, schema: env.schema, ...options }));
}

export async function openMemoryStore(options = {}) {
  const mod = await importOrSkip('tessera/stores/memory');
  const MemoryStore = pick(mod, ['MemoryStore', 'default'], 'tessera/stores/memory');
  return new MemoryStore({ maxSessions: 1_000_000, ...options });
}
