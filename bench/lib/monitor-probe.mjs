// Round trips per request: a short probe per Redis variant and workload with a MONITOR
// connection open, which tells the commands a server sends (each a round trip's worth, unless
// pipelined) from those its scripts run inside Redis. MONITOR slows Redis down, so the probe runs
// after the rounds, never during a measured run.
import { cfg } from './config.mjs';
import { load, loadAndSettle } from './load.mjs';
import { log } from './log.mjs';
import { redisClientPorts, startMonitor } from './redis-monitor.mjs';
import { serverStats } from './servers.mjs';
import { WORKLOADS } from './variants.mjs';

/**
 * Top-level commands (round trips' worth) and in-script commands per request.
 * The same warm-up as a measured run comes first: the probe's few requests visit each session
 * about once, so without it every session last touched more than a touch interval ago (in the
 * rounds, a minute or more back) would count its touch here.
 */
async function monitorProbe(variant, workload) {
  if (cfg.warmup > 0) await loadAndSettle(variant, workload, { duration: cfg.warmup });
  const redisPort = Number(new URL(cfg.redisUrl).port || 6379);
  const ownPorts = redisClientPorts(variant.child.pid, redisPort);
  const monitor = await startMonitor(cfg.redisUrl);
  let before;
  let counts;
  try {
    before = await serverStats(variant);
    // A cached variant sends Redis a command only now and then (an entry past maxStaleness, a
    // touch due, the channel's probes), so it is probed as long as a measured run, under the same
    // load, for a count per request that a few hundred requests could not resolve.
    await load(variant, workload, variant.cache ? { duration: cfg.duration } : { amount: cfg.probeRequests, connections: 10 });
  } finally {
    // Connections opened during the probe count too.
    for (const port of redisClientPorts(variant.child.pid, redisPort)) ownPorts.add(port);
    counts = await monitor.stop(variant.prefix, ownPorts); // always closes the MONITOR connection
  }
  const after = await serverStats(variant);
  const served = after.requests - before.requests;
  const perServed = (table) => Object.fromEntries(Object.entries(table).map(([k, v]) => [k, +(v / served).toFixed(4)]));
  return {
    served,
    topLevel: counts.topLevel / served,
    inScripts: counts.inScripts / served,
    byCommand: perServed(counts.byCommand),
    // Every command the server process sent, on any of its connections (null when they could not be told apart).
    ownCommands: ownPorts.size > 0 ? counts.own / served : null,
    ownByCommand: perServed(counts.ownByCommand),
    connections: ownPorts.size,
  };
}

/** Probes every ready Redis variant in `active`, into `variant.probe[workload]`. */
export async function probeRoundTrips(active) {
  for (const v of active.filter((x) => x.backend === 'redis' && x.status.status === 'ready')) {
    v.probe = {};
    for (const workload of WORKLOADS) {
      try {
        v.probe[workload.id] = await monitorProbe(v, workload);
        log(
          `monitor   ${workload.id.padEnd(9)} ${v.id.padEnd(22)} top-level ${v.probe[workload.id].topLevel.toFixed(2)}/req, in scripts ${v.probe[workload.id].inScripts.toFixed(2)}/req, the process's own ${v.probe[workload.id].ownCommands?.toFixed(4) ?? '–'}/req over ${v.probe[workload.id].served} requests ${JSON.stringify(v.probe[workload.id].byCommand)}`,
        );
      } catch (error) {
        v.probe[workload.id] = { error: error.message };
        log(`monitor ${v.id} ${workload.id}: ${error.message}`);
      }
    }
  }
}
