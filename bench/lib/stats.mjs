// From the rounds to the figures reported: medians over rounds, percentiles of latencies, and
// the spread of a ratio between two variants within each round.

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The `p`th percentile of values already sorted ascending (nearest rank, no interpolation). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);

/** One variant's figures for one workload: medians over its rounds, and its MONITOR probe. */
export function summarize(v, workload) {
  const runs = v.runs?.[workload] ?? [];
  if (runs.length === 0) return null;
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    redisCommands: median(runs.map((r) => r.redisCommands)),
    pgStatements: median(runs.map((r) => r.pgStatements)),
    roundTrips: v.probe?.[workload]?.topLevel ?? null,
    inScripts: v.probe?.[workload]?.inScripts ?? null,
    byCommand: v.probe?.[workload]?.byCommand ?? null,
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    rounds: runs.length,
    allRps: runs.map((r) => Math.round(r.rps)),
    cpuServer: median(runs.map((r) => r.cpu?.server)),
    cpuRedis: median(runs.map((r) => r.cpu?.redis)),
    cpuGenerator: median(runs.map((r) => r.cpu?.generator)),
    cacheHitRatio: median(runs.map((r) => r.cache?.hitRatio)),
    cacheMissesPerRequest: median(runs.map((r) => r.cache?.missesPerRequest)),
    ownCommands: v.probe?.[workload]?.ownCommands ?? null,
  };
}

/** `summarize` by variant id; null for a variant this run did not include. */
export const summaryOf = (byId, id, workload) => (byId[id] ? summarize(byId[id], workload) : null);

/**
 * The lowest and highest ratio of `a`'s req/s to `b`'s within one round (both measured seconds
 * apart), or null unless both ran every round: how much the machine moved during the run.
 */
export function perRoundRange(byId, a, b, workload) {
  const x = byId[a]?.runs?.[workload] ?? [];
  const y = byId[b]?.runs?.[workload] ?? [];
  if (x.length === 0 || x.length !== y.length) return null;
  const ratios = x.map((r, i) => r.rps / y[i].rps).sort((p, q) => p - q);
  return [ratios[0], ratios[ratios.length - 1]];
}
