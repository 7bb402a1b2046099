// Round trips per request: a short probe per Redis variant and workload with a MONITOR
// connection open, which tells the commands a server sends (each a round trip's worth, unless
// pipelined) from those its scripts run inside Redis. MONITOR slows Redis down, so the probe runs
// after the rounds, never during a measured run.
import { cfg } from './config.mjs';
import { load, loadAndSettle } from './load.mjs';
import { log } from './log.mjs';
import { startMonitor } from './redis-monitor.mjs';
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
  const monitor = await startMonitor(cfg.redisUrl);
  let before;
  let counts;
  try {
    before = await serverStats(variant);
    await load(variant, workload, { amount: cfg.probeRequests, connections: 10 });
  } finally {
    counts = await monitor.stop(variant.prefix); // always closes the MONITOR connection
  }
  const after = await serverStats(variant);
  const served = after.requests - before.requests;
  return {
    served,
    topLevel: counts.topLevel / served,
    inScripts: counts.inScripts / served,
    byCommand: Object.fromEntries(Object.entries(counts.byCommand).map(([k, v]) => [k, +(v / served).toFixed(3)])),
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
          `monitor   ${workload.id.padEnd(9)} ${v.id.padEnd(22)} top-level ${v.probe[workload.id].topLevel.toFixed(2)}/req, in scripts ${v.probe[workload.id].inScripts.toFixed(2)}/req ${JSON.stringify(v.probe[workload.id].byCommand)}`,
        );
      } catch (error) {
        v.probe[workload.id] = { error: error.message };
        log(`monitor ${v.id} ${workload.id}: ${error.message}`);
      }
    }
  }
}
