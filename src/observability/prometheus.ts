/**
 * `tessera-session/prometheus`: a manager's metrics in the app's own `prom-client` `Registry` (an
 * optional peer), never the global default one, as prom-client advises for libraries.
 *
 * Metrics (no user id, session id or token is ever a label):
 * - `tessera_sessions_created_total`, `tessera_sessions_logged_in_total`, `tessera_sessions_rotated_total`;
 * - `tessera_sessions_ended_total{reason}`: `logout`, `user`, `admin`, `evicted`, `expired`;
 * - `tessera_sessions_live` (gauge): `manager.count()`, read at most every five seconds, only when the store has an index;
 * - `tessera_store_operation_duration_seconds{store,operation}` (histogram);
 * - `tessera_store_errors_total{store,operation,kind}`: `unavailable`, `error`;
 * - `tessera_unknown_tokens_total`: well-formed tokens that opened no session;
 * - `tessera_brute_force_detections_total`: `bruteForce` events;
 * - `tessera_cache_hits_total`, `tessera_cache_misses_total`, `tessera_cache_invalidations_total{source}`
 *   (`remote`: changed elsewhere, `echo`: this cache's own write come back, `flush`: everything dropped), when the manager has a cache;
 * - `tessera_webhook_deliveries_total{outcome}`: `delivered`, `retrying`, `failed`, `disabled`;
 * - `tessera_webhook_outbox_backlog` (gauge): notices waiting, read at most every five seconds, when webhooks are on.
 *
 * @module tessera-session/prometheus
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SessionManager } from '../core/manager.js';
import { collect, readingsOf } from './collector.js';

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** The app's registry the metrics are registered in (never prom-client's global one). */
  registry: Registry;
  /** Put before every metric name (`myapp_` gives `myapp_tessera_sessions_live`). @default '' */
  prefix?: string;
}

/** Store call durations are mostly sub-millisecond (memory, cache) to tens of milliseconds (a remote database). */
const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Registers `manager`'s metrics in `registry`; returns the function that stops counting and
 * removes them from it.
 *
 * @example
 * const registry = new Registry();
 * const stop = prometheusMetrics(sessions, { registry });
 * // GET /metrics: res.end(await registry.metrics()) with Content-Type registry.contentType
 */
export function prometheusMetrics<T extends object>(manager: SessionManager<T>, options: PrometheusMetricsOptions): () => void {
  const { registry, prefix = '' } = options;
  const names: string[] = [];
  const name = (base: string) => {
    names.push(prefix + base);
    return prefix + base;
  };
  const registers = [registry];
  const counter = <L extends string = never>(base: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name: name(base), help, labelNames, registers });

  const created = counter('tessera_sessions_created_total', 'Anonymous sessions stored.');
  const loggedIn = counter('tessera_sessions_logged_in_total', 'Successful logins.');
  const rotated = counter('tessera_sessions_rotated_total', 'Sessions given a new token (rotate or renewal).');
  const ended = counter('tessera_sessions_ended_total', 'Sessions ended, by reason.', ['reason']);
  const storeErrors = counter('tessera_store_errors_total', 'Failed store calls, by kind.', ['store', 'operation', 'kind']);
  const unknownTokens = counter('tessera_unknown_tokens_total', 'Well-formed tokens that opened no session.');
  const bruteForce = counter('tessera_brute_force_detections_total', 'Addresses past bruteForceLimit (bruteForce events).');
  const deliveries = counter('tessera_webhook_deliveries_total', 'Webhook delivery attempts, by outcome.', ['outcome']);
  const duration = new Histogram<'store' | 'operation'>({
    name: name('tessera_store_operation_duration_seconds'),
    help: 'Store call duration in seconds.',
    labelNames: ['store', 'operation'],
    buckets: DURATION_BUCKETS,
    registers,
  });

  const readings = readingsOf(manager);
  const gauge = (base: string, help: string, read: () => Promise<number | null>) =>
    new Gauge({
      name: name(base),
      help,
      registers,
      async collect() {
        const value = await read();
        // A store that cannot answer leaves the gauge out of the scrape rather than at a stale value.
        if (value === null) this.reset();
        else this.set(value);
      },
    });
  if (readings.live !== null) gauge('tessera_sessions_live', 'Live sessions in the store.', readings.live);
  if (readings.backlog !== null) gauge('tessera_webhook_outbox_backlog', 'Webhook notices waiting for delivery.', readings.backlog);

  if (manager.cacheStats() !== null) {
    // Counters set from the cache's own totals at each scrape.
    const cacheCounter = <L extends string = never>(
      base: string,
      help: string,
      fill: (counter: Counter<L>) => void,
      labelNames: L[] = [],
    ) =>
      new Counter<L>({
        name: name(base),
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          fill(this);
        },
      });
    const stats = () => manager.cacheStats();
    cacheCounter('tessera_cache_hits_total', 'Loads answered from the cache.', (c) => c.inc(stats()?.hits ?? 0));
    cacheCounter('tessera_cache_misses_total', 'Loads sent to the store.', (c) => c.inc(stats()?.misses ?? 0));
    cacheCounter(
      'tessera_cache_invalidations_total',
      'Cache invalidations, by source.',
      (c) => {
        const s = stats();
        if (s === null) return;
        c.inc({ source: 'remote' }, s.invalidations - s.echoes);
        c.inc({ source: 'echo' }, s.echoes);
        c.inc({ source: 'flush' }, s.flushes);
      },
      ['source'],
    );
  }

  const stopCollecting = collect(manager, {
    count(event) {
      switch (event.counter) {
        case 'ended':
          return ended.inc({ reason: event.reason });
        case 'webhook':
          return deliveries.inc({ outcome: event.outcome });
        default:
          return { created, loggedIn, rotated, unknownToken: unknownTokens, bruteForce }[event.counter].inc();
      }
    },
    storeCall(store, operation, seconds, failure) {
      duration.observe({ store, operation }, seconds);
      if (failure !== null) storeErrors.inc({ store, operation, kind: failure });
    },
  });

  return () => {
    stopCollecting();
    for (const metric of names) registry.removeSingleMetric(metric);
  };
}
