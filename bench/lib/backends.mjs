// The bench's own connections to Redis and PostgreSQL: for their versions, Redis's counters, the
// schemas the variants need, and the cleanup. A backend that is not reachable is not an error:
// its variants are skipped, and the error says why.
import { cfg } from './config.mjs';

export async function connectRedis() {
  const { createClient } = await import('redis');
  const client = createClient({ url: cfg.redisUrl, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    return { client, version: /redis_version:(\S+)/.exec(info)?.[1] ?? '?' };
  } catch (error) {
    return { client: null, error: `Redis at ${cfg.redisUrl} unreachable: ${error?.message ?? error}` };
  }
}

export async function connectPostgres() {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: cfg.databaseUrl, connectionTimeoutMillis: 2000, max: 2 });
  pool.on('error', () => {});
  try {
    const { rows } = await pool.query('SHOW server_version');
    return { pool, version: rows[0].server_version };
  } catch (error) {
    await pool.end().catch(() => {});
    return { pool: null, error: `PostgreSQL at ${cfg.databaseUrl} unreachable: ${error?.message ?? error}` };
  }
}

/** Whether any key starts with `prefix` (a full SCAN, stopping at the first). */
export async function anyKey(client, prefix) {
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const reply = await client.scan(cursor, { MATCH: `${prefix}*`, COUNT: 1000 });
    if (reply.keys.length > 0) return true;
    cursor = String(reply.cursor);
    if (cursor === '0') return false;
  }
  return true;
}

/** Removes every key under `prefix`; returns how many. */
export async function cleanupRedis(client, prefix) {
  if (client === null) return 0;
  let removed = 0;
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const reply = await client.scan(cursor, { MATCH: `${prefix}*`, COUNT: 1000 });
    cursor = String(reply.cursor);
    if (reply.keys.length > 0) removed += Number(await client.unlink(reply.keys));
    if (cursor === '0') break;
  }
  return removed;
}

/** Drops every schema whose name starts with `schemaRoot`; returns their names. */
export async function cleanupPostgres(pool, schemaRoot) {
  if (pool === null) return [];
  const { rows } = await pool.query('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [schemaRoot]);
  for (const { nspname } of rows) await pool.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
  return rows.map((r) => r.nspname);
}
