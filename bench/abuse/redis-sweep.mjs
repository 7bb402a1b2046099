// Issue 20, "long work yields", on the Redis store: a sweep of 500,000 expired sessions while
// another request is served.
//   npm run build && node bench/abuse/redis-sweep.mjs
// On a redis-server of its own (see redis-server.mjs; BENCH_REDIS_URL to use another, which must be
// empty of the prefix `sweep:`), it creates EXPIRED_SESSIONS (500,000) sessions with store.create,
// 200 in flight, that expired a minute ago (two in three logged in, as 50,000 users, one in three
// anonymous; each hash still within the store's expiredRetention, as after a missed sweep), and
// one live session. Then it runs `manager.sweep()` (batches of the default cleanupBatchSize, 500)
// while, on the same manager and connection, a plain `manager.load` of the live session is timed
// every 5 ms. It prints, as `result <json>`:
//   sweep: how many it removed and how long it took;
//   load: the live session's load latency during the sweep (median, p99, max), and failures;
//   eventLoopDelayMaxMs: the longest the process's event loop was held meanwhile (monitorEventLoopDelay);
//   baseline: the same two over 5 s just before the sweep, with nothing else running in this
//     process: what the machine's own load costs a request;
//   redis: the scripts that ran during the sweep (the sweep's steps and the heal: how many, and
//     their mean server time, from INFO commandstats), those of them that took over 1 ms (how
//     many, p99 and longest, from SLOWLOG), and the probe's plain HGETALLs that took over 1 ms
//     (neither script runs one): a plain read that slow shows the machine's load keeping the
//     server off the CPU.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { bounded, commandCalls, loginRecord, slowlog, startRedis, summary } from './redis-server.mjs';

const EXPIRED = Number(process.env.EXPIRED_SESSIONS ?? 500_000);
const USERS = 50_000;
const PREFIX = 'sweep:';
const BASELINE_MS = 5000;

const tessera = await import('tessera-session');
const { RedisStore } = await import('tessera-session/stores/redis');

const own = process.env.BENCH_REDIS_URL === undefined ? await startRedis() : null;
const url = process.env.BENCH_REDIS_URL ?? own.url;
const admin = createClient({ url });
admin.on('error', () => {});
await admin.connect();
const store = new RedisStore({ url, prefix: PREFIX });
const manager = new tessera.SessionManager({ store, cleanupInterval: false, maxSessionsPerSubject: Number.POSITIVE_INFINITY });

try {
  // Created two minutes ago with a one-minute idle timeout: expired a minute ago. The hash's TTL is
  // the idle timeout plus expiredRetention (5 minutes) from its creation, so it outlives this run.
  const then = Date.now() - 120_000;
  const partitions = new Map();
  const started = performance.now();
  await bounded(EXPIRED, 200, async (i) => {
    const subject = i % 3 === 0 ? null : `user-${i % USERS}`;
    let partition = null;
    if (subject !== null) {
      partition = partitions.get(subject) ?? (await store.subjectPartition(subject));
      partitions.set(subject, partition);
    }
    const result = await store.create(loginRecord(subject, partition, then, 60), { now: then });
    if (result.status !== 'created') throw new Error(`create: ${result.status}`);
  });
  const createSeconds = (performance.now() - started) / 1000;
  const login = await manager.load({ secure: false });
  await login.login('probe');
  const cookie = `${manager.cookieName(false)}=${login.issuedToken}`;
  await manager.load({ cookie, secure: false });

  // Scripts' own commands are logged too, so only those over 1 ms are: the steps that took long.
  await admin.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', '1000']);
  await admin.sendCommand(['CONFIG', 'SET', 'slowlog-max-len', '100000']);

  /** Loads the live session every 5 ms until `until()`; returns the latencies and the 503s. */
  const probe = async (until) => {
    const times = [];
    let failures = 0;
    while (!until()) {
      const at = performance.now();
      try {
        const session = await manager.load({ cookie, secure: false });
        if (session.subject !== 'probe') throw new Error('the live session was lost');
      } catch (error) {
        if (error?.code !== 'STORE_UNAVAILABLE') throw error;
        failures++;
      }
      times.push(performance.now() - at);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { times, failures };
  };
  const loop = monitorEventLoopDelay({ resolution: 5 });
  // The same probe with no sweep running: what this machine's load alone costs a request.
  const quietUntil = performance.now() + BASELINE_MS;
  loop.enable();
  const quiet = await probe(() => performance.now() >= quietUntil);
  loop.disable();
  const quietLoopMaxMs = loop.max / 1e6;
  loop.reset();

  let running = true;
  await admin.sendCommand(['SLOWLOG', 'RESET']);
  await admin.sendCommand(['CONFIG', 'RESETSTAT']);
  loop.enable();
  const during = probe(() => !running);
  const sweepStarted = performance.now();
  const removed = await manager.sweep();
  const sweepSeconds = (performance.now() - sweepStarted) / 1000;
  running = false;
  const { times: loadTimes, failures } = await during;
  loop.disable();
  // Only the store's scripts and the probe's reads ran meanwhile.
  const over1ms = await slowlog(admin);
  const scripts = (await commandCalls(admin)).evalsha ?? null;

  process.stdout.write(
    `result ${JSON.stringify({
      expired: EXPIRED,
      createSeconds: Math.round(createSeconds * 10) / 10,
      sweep: { removed, seconds: Math.round(sweepSeconds * 100) / 100 },
      load: { ...summary(loadTimes), failures503: failures },
      eventLoopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
      baseline: { ...summary(quiet.times), eventLoopDelayMaxMs: Math.round(quietLoopMaxMs * 100) / 100 },
      redis: { scripts, scriptsOver1ms: over1ms.evalsha ?? null, readsOver1ms: over1ms.hgetall ?? null },
    })}\n`,
  );
} finally {
  manager.close();
  await store.close();
  admin.destroy();
  own?.stop();
}
