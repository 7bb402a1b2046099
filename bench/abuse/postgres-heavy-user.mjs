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
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SessionManager } from 'tessera-session';
import { PostgresStore } from 'tessera-session/stores/postgres';
import { DATABASE_URL, machine, openLoop, paced, randomId, startServer, summary, timed } from './sqlite-postgres-common.mjs';

const HEAVY = Number(process.env.HEAVY_SESSIONS ?? 57_000);
const CONCURRENT_MS = Number(process.env.CONCURRENT_MS ?? 5000);

async function serve(schema) {
  const store = new PostgresStore({ connectionString: DATABASE_URL, schema });
  const manager = new SessionManager({ store, cleanupInterval: false });
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/login') {
        const session = await manager.load({ secure: false, ip: '127.0.0.1' });
        await session.login(url.searchParams.get('user'));
        await session.set('theme', 'dark');
        res.end(session.issuedToken);
      } else if (url.pathname === '/list') {
        const page = await manager.list(url.searchParams.get('user'), { limit: 50 });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(page));
      } else if (url.pathname === '/me') {
        const session = await manager.load({ cookie: req.headers.cookie, secure: false, ip: '127.0.0.1' });
        res.end(String(session.subject));
      } else {
        res.statusCode = 404;
        res.end();
      }
    } catch (error) {
      res.statusCode = error.status ?? 500;
      res.end(String(error.message));
    }
  });
  await store.count({ now: Date.now() });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('SIGTERM', () => server.close(() => store.close().then(() => process.exit(0))));
}

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
    const token = (await timed(`${server.url}/login?user=other`, { method: 'POST' })).body;
    const me = () => timed(`${server.url}/me`, { headers: { cookie: `tessera=${token}` } });
    const list = () => timed(`${server.url}/list?user=heavy`);
    for (let i = 0; i < 20; i++) await me();
    const alone = await paced(me, { everyMs: 5, until: () => false, maxRequests: 200 });
    const listed = [];
    for (let i = 0; i < 10; i++) listed.push(await list());
    let listing = true;
    const during = [];
    const lister = (async () => {
      while (listing) during.push(await list());
    })();
    const others = await openLoop(me, { everyMs: 10, durationMs: CONCURRENT_MS });
    listing = false;
    await lister;
    const page = JSON.parse(listed[0].body);
    console.log(
      JSON.stringify(
        {
          store: 'postgres',
          heavySessions: HEAVY,
          fillMs: Math.round(fillMs),
          listing: {
            sessionsReturned: Array.isArray(page) ? page.length : page.sessions.length,
            nextCursor: Array.isArray(page) ? 'n/a (61cada9)' : page.nextCursor !== null,
            responseBytes: listed[0].body.length,
            latencyMs: summary(listed.map((r) => r.ms)),
          },
          otherUserAloneMs: summary(alone.map((r) => r.ms)),
          otherUserWhileListingMs: summary(others.map((r) => r.ms)),
          listingsDuringThat: during.length,
          statuses: [...new Set([...alone, ...others].map((r) => r.status))],
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

if (process.argv[2] === 'server') await serve(process.argv[3]);
else await drive();
