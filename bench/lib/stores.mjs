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

/** A new instance of a tessera store module's class (named, or its default export). */
async function construct(specifier, name, options) {
  const Store = pick(await importOrSkip(specifier), [name, 'default'], specifier);
  return new Store(options);
}

export async function openRedisStore(options = {}) {
  return started(await construct('tessera-session/stores/redis', 'RedisStore', { url: env.redisUrl, prefix: env.prefix, ...options }));
}

export async function openSqliteStore(options = {}) {
  return started(await construct('tessera-session/stores/sqlite', 'SqliteStore', { path: env.sqlitePath, ...options }));
}

export async function openPostgresStore(options = {}) {
  return started(
    await construct('tessera-session/stores/postgres', 'PostgresStore', {
      connectionString: env.databaseUrl,
      schema: env.schema,
      ...options,
    }),
  );
}

export function openMemoryStore(options = {}) {
  return construct('tessera-session/stores/memory', 'MemoryStore', { maxSessions: 1_000_000, ...options });
}
