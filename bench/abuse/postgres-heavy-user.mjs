// Issue 20, "no listing blocks the server" (PostgreSQL): one user holds 57,000 sessions. A server
// process (PostgresStore + SessionManager + node:http) answers GET /list (the heavy user's sessions,
// as `GET /api/sessions` does: `manager.list(user, { limit: 50 })`, which on 61cada9 returns all of
// them) and GET /me (another user's request: load the session by cookie). Measured from this
// process: the listing's latency alone, other users' latency alone, and other users' latency while
// the listing is requested back to back (other users: a request every 10 ms, open loop). The rows
// are written with generate_series into a schema of this run's own, dropped at the end.
// Run after `npm run build`:
//   node bench/abuse/postgres-heavy-user.mjs
// Knobs: DATABASE_URL (postgres://127.0.0.1:5432/test), HEAVY_SESSIONS (57000), CONCURRENT_MS (5000).
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresStore } from 'tessera-session/stores/postgres';
import { DATABASE_URL, machine, measureHeavyUser, randomId, serveSessions, startServer } from './sqlite-postgres-common.mjs';

const HEAVY = Number(process.env.HEAVY_SESSIONS ?? 57_000);
const CONCURRENT_MS = Number(process.env.CONCURRENT_MS ?? 5000);

async function drive() {
  const schema = `tessera_abuse_${randomId(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  const start = machine();
  const now = Date.now();
  // The store migrates the schema; then the rows, shaped as it writes them, in one statement.
  const setup = new PostgresStore({ connectionString: DATABASE_URL, schema });
  await setup.count({ now });
  await setup.close();
  const filling = performance.now();
  await admin.query(
    `INSERT INTO "${schema}".tessera_sessions
       (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
        authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
     SELECT 'h' || md5(g::text) || 'xx' , md5('s' || g), 'heavy', NULL, $1::bigint - $2 + g, $1::bigint - $2 + g, 86400, $1::bigint + 86400000, $1::bigint + 86400000,
            $1::bigint - $2 + g, 1, '{"theme":"dark","n":42}'::jsonb, '127.0.0.1', 'bench', '127.0.0.1', 'bench', $1::bigint - $2 + g, NULL, NULL
     FROM generate_series(0, $2 - 1) AS g`,
    [now, HEAVY],
  );
  await admin.query(`ANALYZE "${schema}".tessera_sessions`);
  const fillMs = performance.now() - filling;
  const server = await startServer(fileURLToPath(import.meta.url), ['server', schema]);
  try {
    await measureHeavyUser(server, { store: 'postgres', heavy: HEAVY, fillMs, start, concurrentMs: CONCURRENT_MS });
  } finally {
    await server.stop();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

if (process.argv[2] === 'server') await serveSessions(new PostgresStore({ connectionString: DATABASE_URL, schema: process.argv[3] }));
else await drive();
