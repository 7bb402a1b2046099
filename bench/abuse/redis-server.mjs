// A private redis-server for the abuse measurements (bench/abuse/redis-*.mjs): on a free loopback
// port, no persistence, in a temporary directory; `stop()` kills it by PID and removes the
// directory. A private server keeps the 57,000- and 500,000-session figures apart from whatever
// else the machine's Redis serves, and keeps those sessions out of it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The token internals are not a public export; the scripts run against the build (`npm run build`).
import { issueToken } from '../../dist/src/core/token.js';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server; resolves to `{ url, pid, stop }` once it accepts connections (10 s at most). */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-abuse-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready within 10 s: ${log}`)), 10_000);
    const ready = () => {
      if (!log.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.stdout.off('data', ready);
      resolve();
    };
    child.stdout.on('data', ready);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited at start-up (${code}): ${log}`));
    });
  });
  const stop = () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop };
}

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
export async function bounded(count, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** A session record as the core makes one at login (src/core/session.ts), for store.create. */
export function loginRecord(subject, partition, now, idleSeconds) {
  const issued = issueToken(partition);
  return {
    id: issued.id,
    secretHash: issued.secretHash,
    subject,
    displayName: null,
    createdAt: now,
    lastSeenAt: now,
    idleTimeout: idleSeconds,
    absoluteExpiresAt: now + 86_400_000,
    expiresAt: Math.min(now + idleSeconds * 1000, now + 86_400_000),
    authenticatedAt: subject === null ? null : now,
    version: 1,
    data: { theme: 'dark', n: 42 },
    createdDevice: { ip: '127.0.0.1', userAgent: 'bench/1.0' },
    lastDevice: { ip: '127.0.0.1', userAgent: 'bench/1.0' },
    renewedAt: now,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
  };
}

/** Median, 99th percentile and maximum of a list of milliseconds. */
export function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  return { n: sorted.length, medianMs: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(sorted[sorted.length - 1] ?? null) };
}

/**
 * Per command name, since the last `SLOWLOG RESET` (with everything logged): how many ran, and the
 * 99th percentile and longest of their durations in ms. A plain read that shows milliseconds here
 * means the server process was kept off the CPU (the machine's own load), not that it worked.
 */
export async function slowlog(client) {
  const entries = await client.sendCommand(['SLOWLOG', 'GET', '-1']);
  const byCommand = {};
  for (const entry of entries) {
    const name = String(entry[3]?.[0] ?? '?').toLowerCase();
    (byCommand[name] ??= []).push(Number(entry[2]) / 1000);
  }
  const result = {};
  for (const [name, times] of Object.entries(byCommand)) {
    const { n, p99Ms, maxMs } = summary(times);
    result[name] = { n, p99Ms, maxMs };
  }
  return result;
}

/** `INFO commandstats` since the last `CONFIG RESETSTAT`: per command name, its calls and mean server time in ms. */
export async function commandCalls(client) {
  const info = String(await client.sendCommand(['INFO', 'commandstats']));
  const calls = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)) {
    calls[match[1]] = { n: Number(match[2]), meanMs: Math.round(Number(match[3])) / 1000 };
  }
  return calls;
}
