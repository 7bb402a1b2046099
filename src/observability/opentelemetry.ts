/**
 * `tessera-session/opentelemetry`: a manager's metrics and store spans through `@opentelemetry/api`
 * (an optional peer). Without an SDK registered in the app, the API's providers are no-ops and so
 * is this.
 *
 * Metrics (units in UCUM; attributes never name a user, a session or a token):
 * - `tessera.sessions.created`, `tessera.sessions.logged_in`, `tessera.sessions.rotated` (counters, `{session}`);
 * - `tessera.sessions.ended` (counter, `{session}`) by `tessera.reason`: `logout`, `user`, `admin`, `evicted`, `expired`;
 * - `tessera.sessions.live` (observable gauge, `{session}`): `manager.count()`, read at most every five seconds,
 *   only when the store has an index;
 * - `tessera.store.operation.duration` (histogram, `s`) by `tessera.store` and `tessera.operation`;
 * - `tessera.store.errors` (counter, `{error}`) by `tessera.store`, `tessera.operation` and `error.type`: `unavailable`, `error`;
 * - `tessera.tokens.unknown` (counter, `{token}`): well-formed tokens that opened no session;
 * - `tessera.brute_force.detections` (counter, `{detection}`): `bruteForce` events;
 * - `tessera.cache.hits`, `tessera.cache.misses` (observable counters, `{load}`), `tessera.cache.invalidations`
 *   (observable counter, `{invalidation}`) by `tessera.source`: `remote` (changed elsewhere), `echo` (this
 *   cache's own write come back), `flush` (everything dropped): when the manager has a cache;
 * - `tessera.webhook.deliveries` (counter, `{delivery}`) by `tessera.outcome`: `delivered`, `retrying`, `failed`, `disabled`;
 * - `tessera.webhook.outbox.backlog` (observable gauge, `{notice}`): notices waiting, read at most every five seconds,
 *   when webhooks are on.
 *
 * Spans: one per store call, `tessera.store <operation>` (kind client), a child of the active
 * context, with `tessera.store`, `tessera.operation` and `db.system` (`redis`, `postgresql`,
 * `sqlite`) where the store maps to one; error status when the call fails.
 *
 * @module tessera-session/opentelemetry
 */
import {
  context as otelContext,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type BatchObservableResult,
  type MeterProvider,
  type ObservableResult,
  type Span,
  type TracerProvider,
} from '@opentelemetry/api';
import type { SessionManager } from '../core/manager.js';
import { collect, readingsOf, type CounterEvent, type FailureKind } from './collector.js';

/** Options of {@link instrumentSessions}. */
export interface InstrumentSessionsOptions {
  /** Where the metrics go. @default the global provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /** Where the store spans go. @default the global provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
}

const SCOPE = 'tessera-session';
/** Store call durations are mostly sub-millisecond (memory, cache) to tens of milliseconds (a remote database). */
const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** `db.system` for the bundled stores' names. */
const DB_SYSTEM: Record<string, string> = { redis: 'redis', postgres: 'postgresql', sqlite: 'sqlite' };

/**
 * Records `manager`'s metrics and store spans with OpenTelemetry; returns the function that stops it.
 *
 * @example
 * const stop = instrumentSessions(sessions); // the app's global MeterProvider and TracerProvider
 */
export function instrumentSessions<T extends object>(manager: SessionManager<T>, options: InstrumentSessionsOptions = {}): () => void {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);

  const counter = (name: string, unit: string, description: string) => meter.createCounter(name, { unit, description });
  const created = counter('tessera.sessions.created', '{session}', 'Anonymous sessions stored.');
  const loggedIn = counter('tessera.sessions.logged_in', '{session}', 'Successful logins.');
  const rotated = counter('tessera.sessions.rotated', '{session}', 'Sessions given a new token (rotate or renewal).');
  const ended = counter('tessera.sessions.ended', '{session}', 'Sessions ended, by reason.');
  const unknownTokens = counter('tessera.tokens.unknown', '{token}', 'Well-formed tokens that opened no session.');
  const bruteForce = counter('tessera.brute_force.detections', '{detection}', 'Addresses past bruteForceLimit (bruteForce events).');
  const deliveries = counter('tessera.webhook.deliveries', '{delivery}', 'Webhook delivery attempts, by outcome.');
  const storeErrors = counter('tessera.store.errors', '{error}', 'Failed store calls, by kind.');
  const duration = meter.createHistogram('tessera.store.operation.duration', {
    unit: 's',
    description: 'Store call duration.',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });

  const stopCollecting = collect(manager, {
    count(event: CounterEvent) {
      switch (event.counter) {
        case 'ended':
          return ended.add(1, { 'tessera.reason': event.reason });
        case 'webhook':
          return deliveries.add(1, { 'tessera.outcome': event.outcome });
        default:
          return { created, loggedIn, rotated, unknownToken: unknownTokens, bruteForce }[event.counter].add(1);
      }
    },
    storeCall(store, operation, seconds, failure) {
      const attributes = { 'tessera.store': store, 'tessera.operation': operation };
      duration.record(seconds, attributes);
      if (failure !== null) storeErrors.add(1, { ...attributes, 'error.type': failure });
    },
    storeCallStarted(store, operation) {
      const attributes: Attributes = { 'tessera.store': store, 'tessera.operation': operation };
      const system = DB_SYSTEM[store];
      if (system !== undefined) attributes['db.system'] = system;
      return tracer.startSpan(`tessera.store ${operation}`, { kind: SpanKind.CLIENT, attributes }, otelContext.active());
    },
    storeCallEnded(started, failure: FailureKind | null) {
      const span = started as Span;
      // The error's message is left out: a driver's may quote a key, and a key holds a session id.
      if (failure !== null) {
        span.setAttribute('error.type', failure);
        span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      }
      span.end();
    },
  });

  const stopObserving: Array<() => void> = [];
  const gauge = (name: string, unit: string, description: string, read: () => Promise<number | null>) => {
    const instrument = meter.createObservableGauge(name, { unit, description });
    const callback = async (result: ObservableResult) => {
      const value = await read();
      if (value !== null) result.observe(value);
    };
    instrument.addCallback(callback);
    stopObserving.push(() => instrument.removeCallback(callback));
  };
  const readings = readingsOf(manager);
  if (readings.live !== null) gauge('tessera.sessions.live', '{session}', 'Live sessions in the store.', readings.live);
  if (readings.backlog !== null) {
    gauge('tessera.webhook.outbox.backlog', '{notice}', 'Webhook notices waiting for delivery.', readings.backlog);
  }

  if (manager.cacheStats() !== null) {
    const hits = meter.createObservableCounter('tessera.cache.hits', { unit: '{load}', description: 'Loads answered from the cache.' });
    const misses = meter.createObservableCounter('tessera.cache.misses', { unit: '{load}', description: 'Loads sent to the store.' });
    const invalidations = meter.createObservableCounter('tessera.cache.invalidations', {
      unit: '{invalidation}',
      description: 'Cache invalidations, by source.',
    });
    const callback = (result: BatchObservableResult) => {
      const stats = manager.cacheStats();
      if (stats === null) return;
      result.observe(hits, stats.hits);
      result.observe(misses, stats.misses);
      result.observe(invalidations, stats.invalidations - stats.echoes, { 'tessera.source': 'remote' });
      result.observe(invalidations, stats.echoes, { 'tessera.source': 'echo' });
      result.observe(invalidations, stats.flushes, { 'tessera.source': 'flush' });
    };
    meter.addBatchObservableCallback(callback, [hits, misses, invalidations]);
    stopObserving.push(() => meter.removeBatchObservableCallback(callback, [hits, misses, invalidations]));
  }

  return () => {
    stopCollecting();
    for (const stop of stopObserving) stop();
  };
}
