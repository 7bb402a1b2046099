// The measured rounds: every variant once per round and workload, in an order rotated between
// rounds, so that a disturbance of the machine falls on different variants each time and the
// median over rounds shrugs it off.
import { cfg } from './config.mjs';
import { loadAndSettle } from './load.mjs';
import { log } from './log.mjs';
import { machineCpu, stealShare } from './machine.mjs';
import { measure } from './measure.mjs';
import { WORKLOADS } from './variants.mjs';

/**
 * Runs the rounds over `active`, appending each run to `variant.runs[workload]`; a variant that
 * fails is marked so and left out of the rounds after. Returns the share of the machine's CPU
 * time the hypervisor stole meanwhile (null without Linux's /proc).
 */
export async function runRounds(active, redis) {
  // Every measured run follows an unrecorded warm-up of the same variant and workload: while a
  // variant idles (the others' turns, about a minute), V8 shrinks its heap, and a run that
  // started cold would measure the heap growing back (a third more CPU per request for the
  // variants that keep objects across a store round trip) instead of the variant's steady state.
  const cpuBefore = machineCpu();
  for (let round = 0; round < cfg.rounds; round++) {
    for (const workload of WORKLOADS) {
      const offset = (round * 3 + (workload.id === 'read' ? 1 : 0)) % Math.max(1, active.length);
      const order = [...active.slice(offset), ...active.slice(0, offset)];
      for (const v of order) {
        if (v.status.status !== 'ready') continue;
        try {
          if (cfg.warmup > 0) await loadAndSettle(v, workload, { duration: cfg.warmup });
          const r = await measure(v, workload, redis);
          (v.runs[workload.id] ??= []).push(r);
          log(
            `round ${round + 1}/${cfg.rounds} ${workload.id.padEnd(9)} ${v.id.padEnd(22)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50?.toFixed(2)} ms  p99 ${r.p99?.toFixed(2)} ms` +
              (r.redisCommands !== undefined ? `  redis ${r.redisCommands.toFixed(2)}/req` : '') +
              (r.pgStatements !== undefined ? `  pg ${r.pgStatements.toFixed(2)}/req` : '') +
              (r.cache ? `  cache hits ${((r.cache.hitRatio ?? 0) * 100).toFixed(1)} %` : '') +
              (r.non2xx || r.errors ? `  non-2xx ${r.non2xx} errors ${r.errors}` : ''),
          );
        } catch (error) {
          v.status = { status: 'failed', reason: `${workload.id} run: ${error.message}. ${v.stderr ?? ''}`.slice(0, 600) };
          log(`${v.id}: failed: ${v.status.reason}`);
        }
      }
    }
  }
  const stolen = stealShare(cpuBefore, machineCpu());
  if (stolen !== null) log(`CPU time stolen by the hypervisor during the rounds: ${(stolen * 100).toFixed(1)} %`);
  return stolen;
}
