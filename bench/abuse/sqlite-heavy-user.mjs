// Issue 20, "no listing blocks the server" (SQLite): one user holds 57,000 sessions. A server
// process (SqliteStore + SessionManager + node:http) answers GET /list (the heavy user's sessions,
// as `GET /api/sessions` does: `manager.list(user, { limit: 50 })`, which on 61cada9 returns all of
// them) and GET /me (another user's request: load the session by cookie). Measured from this
// process: the listing's latency alone, other users' latency alone, and other users' latency while
// the listing is requested back to back (other users: a request every 10 ms, open loop: each is
// sent on time whether or not the previous ones have answered). Run after `npm run build`:
//   node bench/abuse/sqlite-heavy-user.mjs
// Knobs: HEAVY_SESSIONS (57000), CONCURRENT_MS (5000).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionManager } from 'tessera-session';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { machine, openLoop, paced, randomId, startServer, summary, timed } from './sqlite-postgres-common.mjs';

const HEAVY = Number(process.env.HEAVY_SESSIONS ?? 57_000);
const CONCURRENT_MS = Number(process.env.CONCURRENT_MS ?? 5000);

/** The server: one store, one manager, three routes. */
async function serve(path) {
  const store = new SqliteStore({ path });
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
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('SIGTERM', () => server.close(() => store.close().then(() => process.exit(0))));
}

/** 57,000 sessions of one user, written as the store writes them, in one transaction. */
async function fill(path, now) {
  new SqliteStore({ path }).close();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path);
  const insert = db.prepare(
    `INSERT INTO tessera_sessions (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
       authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
     VALUES (?, ?, 'heavy', NULL, ?, ?, 86400, ?, ?, ?, 1, '{"theme":"dark","n":42}', '127.0.0.1', 'bench', '127.0.0.1', 'bench', ?, NULL, NULL)`,
  );
  db.transaction(() => {
    for (let i = 0; i < HEAVY; i++) {
      const at = now - HEAVY + i;
      insert.run(randomId(), randomId(16), at, at, now + 86_400_000, now + 86_400_000, at, at);
    }
  })();
  db.close();
}

async function drive() {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-abuse-'));
  const path = join(dir, 'sessions.db');
  const start = machine();
  const now = Date.now();
  const filling = performance.now();
  await fill(path, now);
  const fillMs = performance.now() - filling;
  const server = await startServer(fileURLToPath(import.meta.url), ['server', path]);
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
          store: 'sqlite',
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
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'server') await serve(process.argv[3]);
else await drive();
