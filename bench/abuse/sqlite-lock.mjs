// Issue 20, "a lock held elsewhere never freezes the event loop" (SQLite): another process holds
// the database's write lock (BEGIN IMMEDIATE) for 12 s. Meanwhile a server process (SqliteStore
// with its default busyTimeout + SessionManager + node:http) is sent, from this process, a write
// every 100 ms (POST /write: a logged-in user's session.set) and a static file every 20 ms
// (GET /static: 100 KB read from disk, no session), both open loop. Prints the latencies of the
// static file and of the writes, and how the writes ended (200, or 503 once busyTimeout passed).
// Run after `npm run build`:
//   node bench/abuse/sqlite-lock.mjs
// Knobs: LOCK_MS (12000).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionManager } from 'tessera-session';
import { SqliteStore } from 'tessera-session/stores/sqlite';
import { machine, openLoop, startServer, summary, timed } from './sqlite-postgres-common.mjs';

const LOCK_MS = Number(process.env.LOCK_MS ?? 12_000);

async function serve(path, file) {
  const store = new SqliteStore({ path });
  const manager = new SessionManager({ store, cleanupInterval: false });
  let writes = 0;
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/static') {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(readFileSync(file));
      } else if (url.pathname === '/login') {
        const session = await manager.load({ secure: false, ip: '127.0.0.1' });
        await session.login('writer');
        res.end(session.issuedToken);
      } else if (url.pathname === '/write') {
        const session = await manager.load({ cookie: req.headers.cookie, secure: false, ip: '127.0.0.1' });
        await session.set('n', ++writes);
        res.end('ok');
      } else {
        res.statusCode = 404;
        res.end();
      }
    } catch (error) {
      res.statusCode = error.status ?? 500;
      res.end(String(error.code ?? error.message));
    }
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('SIGTERM', () => server.close(() => store.close().then(() => process.exit(0))));
}

/** Another process: takes the write lock, says so, holds it for `ms`, lets go and exits. */
function holdLock(path, ms) {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(path)});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, ${ms});`;
  const child = spawn(process.execPath, ['-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const locked = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => String(chunk).includes('locked') && resolve());
    child.once('exit', () => reject(new Error('the lock holder exited before locking')));
  });
  return { locked, exited };
}

async function drive() {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-abuse-'));
  const path = join(dir, 'sessions.db');
  const file = join(dir, 'static.bin');
  writeFileSync(file, Buffer.alloc(100_000, 7));
  const start = machine();
  const server = await startServer(fileURLToPath(import.meta.url), ['server', path, file]);
  try {
    const token = (await timed(`${server.url}/login`, { method: 'POST' })).body;
    const staticFile = () => timed(`${server.url}/static`);
    const write = () => timed(`${server.url}/write`, { method: 'POST', headers: { cookie: `tessera=${token}` } });
    for (let i = 0; i < 10; i++) await Promise.all([staticFile(), write()]);
    const before = await openLoop(staticFile, { everyMs: 20, durationMs: 1000 });
    const holder = holdLock(path, LOCK_MS);
    await holder.locked;
    const [statics, writes] = await Promise.all([
      openLoop(staticFile, { everyMs: 20, durationMs: LOCK_MS }),
      openLoop(write, { everyMs: 100, durationMs: LOCK_MS }),
    ]);
    await holder.exited;
    const after = await write();
    const statuses = {};
    for (const r of writes) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    console.log(
      JSON.stringify(
        {
          store: 'sqlite',
          lockHeldMs: LOCK_MS,
          staticBeforeMs: summary(before.map((r) => r.ms)),
          staticWhileLockedMs: summary(statics.map((r) => r.ms)),
          writesWhileLocked: { statuses, latencyMs: summary(writes.map((r) => r.ms)) },
          writeAfterRelease: after.status,
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

if (process.argv[2] === 'server') await serve(process.argv[3], process.argv[4]);
else await drive();
