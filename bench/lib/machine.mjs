// What the machine was doing while the bench ran: its CPU counters, a process's CPU time, and the
// description results.md opens with. All of them read Linux's /proc; elsewhere the counters are
// null and the report leaves out what depends on them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { sleep } from './async.mjs';

/** Busy and total CPU time of the whole machine so far (Linux `/proc/stat`), or null elsewhere. */
export function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    // guest and guest_nice (fields 8 and 9) are already counted in user and nice.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    // Time the hypervisor gave this VM's CPUs to someone else: it slows every variant, whatever
    // the load average says.
    return { busy: total - idle, total, steal: fields[7] ?? 0 };
  } catch {
    return null;
  }
}

/** Share of the machine's CPU time stolen by the hypervisor between two `machineCpu()` readings. */
export function stealShare(before, after) {
  if (before === null || after === null) return null;
  return (after.steal - before.steal) / Math.max(1, after.total - before.total);
}

/**
 * Waits, at most `maxMs`, for half a second in which the machine's CPUs were under 10 % busy: after
 * the load, PostgreSQL's autovacuum and checkpoints can take a core for seconds, and the admin
 * timings at scale last only milliseconds each. Returns the time waited and the last busy share.
 */
export async function settle(maxMs = 30_000) {
  const started = performance.now();
  let busyShare = null;
  let before = machineCpu();
  while (before !== null && performance.now() - started < maxMs) {
    await sleep(500);
    const after = machineCpu();
    if (after === null) break;
    busyShare = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    before = after;
    if (busyShare < 0.1) break;
  }
  return { waitedMs: performance.now() - started, busyShare };
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system) a process has used so far, or null without Linux's /proc. */
export function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

export function machineInfo() {
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model ?? '?',
    memoryGb: (os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()}`,
  };
}
