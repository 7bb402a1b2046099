// Issue 20, "long work yields" (PostgreSQL): 500,000 expired sessions, then `manager.sweep()` in a
// server process (PostgresStore + SessionManager + node:http) whose GET /me (another user's request:
// load the session by cookie) is requested every 5 ms from this process (open loop: each sent on
// time whether or not the previous ones have answered) while the sweep runs. Prints the sweep's
// duration and what it removed, the server's event-loop delay during it (monitorEventLoopDelay),
// and the latencies of the requests sent during it; the goal is a worst case within 50 ms. The
// rows are written with generate_series into a schema of this run's own, dropped at the end.
// Run after `npm run build`:
//   node bench/abuse/postgres-sweep.mjs
// Knobs: DATABASE_URL (postgres://127.0.0.1:5432/test), EXPIRED_SESSIONS (500000).
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresStore } from 'tessera-session/stores/postgres';
import { DATABASE_URL, machine, openLoop, randomId, serveSessions, startServer, summary, timed } from './sqlite-postgres-common.mjs';

const EXPIRED = Number(process.env.EXPIRED_SESSIONS ?? 500_000);

/** Expired sessions, a third of them logged in, shaped as the store writes them, in one statement. */
async function fill(admin, schema, now) {
  const setup = new PostgresStore({ connectionString: DATABASE_URL, schema });
  await setup.count({ now });
  await setup.close();
  await admin.query(
    `INSERT INTO "${schema}".tessera_sessions
       (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
        authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
     SELECT 'e' || md5(g::text) || 'xx', md5('s' || g), CASE WHEN g % 3 = 0 THEN 'user' || (g % 10000) END, NULL,
            $1::bigint - 7200000 + g % 3600000, $1::bigint - 7200000 + g % 3600000, 1800, $1::bigint + 86400000, $1::bigint - 5400000 + g % 3600000,
            NULL, 1, '{"cart":["pear"]}'::jsonb, '127.0.0.1', 'bench', '127.0.0.1', 'bench', $1::bigint - 7200000 + g % 3600000, NULL, NULL
     FROM generate_series(0, $2 - 1) AS g`,
    [now, EXPIRED],
  );
  await admin.query(`ANALYZE "${schema}".tessera_sessions`);
}

async function drive() {
  const schema = `tessera_abuse_${randomId(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  const start = machine();
  const filling = performance.now();
  await fill(admin, schema, Date.now());
  const fillMs = performance.now() - filling;
  const server = await startServer(fileURLToPath(import.meta.url), ['server', schema]);
  try {
    const token = (await timed(`${server.url}/login`, { method: 'POST' })).body;
    const me = () => timed(`${server.url}/me`, { headers: { cookie: `tessera=${token}` } });
    for (let i = 0; i < 20; i++) await me();
    const before = await openLoop(me, { everyMs: 5, durationMs: 1000 });
    let sweeping = true;
    const sweep = timed(`${server.url}/sweep`, { method: 'POST' }).finally(() => (sweeping = false));
    const during = [];
    // Until the sweep answers (at most 10 minutes).
    for (let round = 0; sweeping && round < 600; round++) during.push(...(await openLoop(me, { everyMs: 5, durationMs: 1000 })));
    const swept = await sweep;
    console.log(
      JSON.stringify(
        {
          store: 'postgres',
          expiredSessions: EXPIRED,
          fillMs: Math.round(fillMs),
          sweep: JSON.parse(swept.body),
          otherUserBeforeMs: summary(before.map((r) => r.ms)),
          otherUserDuringSweepMs: summary(during.map((r) => r.ms)),
          over50ms: during.filter((r) => r.ms > 50).length,
          statuses: [...new Set(during.map((r) => r.status))],
          machine: { start, end: machine() },
        },
        null,
        2,
      ),
    );
  } finally {
    await server.stop();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

if (process.argv[2] === 'server') await serveSessions(new PostgresStore({ connectionString: DATABASE_URL, schema: process.argv[3] }));
else await drive();
