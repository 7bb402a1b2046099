// Issue 20, "long work yields" (SQLite): 500,000 expired sessions, then `manager.sweep()` in a
// server process (SqliteStore + SessionManager + node:http) whose GET /me (another user's request:
// load the session by cookie) is requested every 5 ms from this process (open loop: each sent on
// time whether or not the previous ones have answered) while the sweep runs. Prints the sweep's
// duration and what it removed, the server's event-loop delay during it (monitorEventLoopDelay),
// and the latencies of the requests sent during it; the goal is a worst case within 50 ms.
// Run after `npm run build`:
//   node bench/abuse/sqlite-sweep.mjs
// Knobs: EXPIRED_SESSIONS (500000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { machine, openLoop, randomId, serveSessions, startServer, summary, timed } from './sqlite-postgres-common.mjs';

const EXPIRED = Number(process.env.EXPIRED_SESSIONS ?? 500_000);

/** Expired sessions, a third of them logged in, written as the store writes them, in one transaction. */
async function fill(path, now) {
  new SqliteStore({ path }).close();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path);
  const insert = db.prepare(
    `INSERT INTO tessera_sessions (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
       authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
     VALUES (?, ?, ?, NULL, ?, ?, 1800, ?, ?, NULL, 1, '{"cart":["pear"]}', '127.0.0.1', 'bench', '127.0.0.1', 'bench', ?, NULL, NULL)`,
  );
  db.transaction(() => {
    for (let i = 0; i < EXPIRED; i++) {
      const at = now - 7_200_000 + (i % 3_600_000);
      insert.run(randomId(), randomId(16), i % 3 === 0 ? `user${i % 10_000}` : null, at, at, at + 86_400_000, at + 1_800_000, at);
    }
  })();
  db.close();
}

async function drive() {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-abuse-'));
  const path = join(dir, 'sessions.db');
  const start = machine();
  const filling = performance.now();
  await fill(path, Date.now());
  const fillMs = performance.now() - filling;
  const server = await startServer(fileURLToPath(import.meta.url), ['server', path]);
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
          store: 'sqlite',
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
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'server') await serveSessions(new SqliteStore({ path: process.argv[3] }));
else await drive();
