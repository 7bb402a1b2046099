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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { machine, measureHeavyUser, randomId, serveSessions, startServer } from './sqlite-postgres-common.mjs';

const HEAVY = Number(process.env.HEAVY_SESSIONS ?? 57_000);
const CONCURRENT_MS = Number(process.env.CONCURRENT_MS ?? 5000);

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
    await measureHeavyUser(server, { store: 'sqlite', heavy: HEAVY, fillMs, start, concurrentMs: CONCURRENT_MS });
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'server') await serveSessions(new SqliteStore({ path: process.argv[3] }));
else await drive();
