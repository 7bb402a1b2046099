/**
 * What the OpenTelemetry and Prometheus modules share, with no dependency of its own: it listens to
 * a manager's events and to tessera's diagnostics channels (see `core/diagnostics.ts`), and hands
 * each thing to count to a {@link Recorder}, which speaks one metrics library. Nothing here names a
 * user, a session or a token: labels are the store's name, the operation, a reason or an outcome.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { STORE_CHANNEL, UNKNOWN_TOKEN_CHANNEL, type StoreCallContext, type UnknownTokenMessage } from '../core/diagnostics.js';
import { StoreUnavailableError, TesseraError } from '../core/errors.js';
import type { DeliveryOutcome, RevokeReason } from '../core/events.js';
import type { SessionManager } from '../core/manager.js';
import type { StoreOperation } from '../core/reporting-store.js';
import { hasSessionIndex } from '../core/store.js';

/** Why a session ended, as the `reason` label says it. */
export type EndReason = RevokeReason | 'expired';
/** A failed store call: an outage (`StoreUnavailableError`) or anything else the store threw. */
export type FailureKind = 'unavailable' | 'error';

/** The counters the collector moves, each by one. */
export type CounterEvent =
  | { counter: 'created' | 'loggedIn' | 'rotated' | 'unknownToken' | 'bruteForce' }
  | { counter: 'ended'; reason: EndReason }
  | { counter: 'webhook'; outcome: DeliveryOutcome };

/** One metrics library's side. */
export interface Recorder {
  count(event: CounterEvent): void;
  /** A store call ended after `seconds`; `failure` when it failed. */
  storeCall(store: string, operation: StoreOperation, seconds: number, failure: FailureKind | null): void;
  /** A store call begins (for spans); what it returns is given back to `storeCallEnded`. */
  storeCallStarted?(store: string, operation: StoreOperation): unknown;
  storeCallEnded?(started: unknown, failure: FailureKind | null, error: unknown): void;
}

/** How long a gauge read from the store is reused: a scrape every second must not count the store every second. */
export const GAUGE_TTL_MS = 5_000;

/** A store failure as a metric sees it; other tessera errors (a malformed cursor) are answers, not failures. */
export function failureKind(error: unknown): FailureKind | null {
  if (error instanceof StoreUnavailableError) return 'unavailable';
  return error instanceof TesseraError ? null : 'error';
}

/**
 * A reading of the store reused for {@link GAUGE_TTL_MS} on the manager's clock, one read at a time;
 * null while the store cannot answer (the gauge then reports nothing rather than a stale count).
 */
export function cachedReading(read: () => Promise<number>, now: () => number, ttlMs = GAUGE_TTL_MS): () => Promise<number | null> {
  let value: number | null = null;
  let readAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<number | null> | null = null;
  return () => {
    const at = now();
    if (at >= readAt && at - readAt < ttlMs) return Promise.resolve(value);
    pending ??= read().then(
      (fresh) => {
        value = fresh;
        readAt = at;
        return fresh;
      },
      () => {
        value = null;
        return null;
      },
    );
    const current = pending;
    return current.finally(() => {
      if (pending === current) pending = null;
    });
  };
}

/** The gauges' readings: null when the manager has nothing to read them from. */
export interface Readings {
  /** Live sessions (`manager.count()`), when the store has an index. */
  live: (() => Promise<number | null>) | null;
  /** Notices waiting in the outbox, when webhooks are on. */
  backlog: (() => Promise<number | null>) | null;
}

export function readingsOf<T extends object>(manager: SessionManager<T>): Readings {
  const now = () => manager.options.clock.now();
  const outbox = manager.options.outbox;
  return {
    live: hasSessionIndex(manager.options.store) ? cachedReading(() => manager.count(), now) : null,
    backlog: outbox === null ? null : cachedReading(() => outbox.countNotices(), now),
  };
}

/** Feeds `recorder` from `manager` until the returned function is called. */
export function collect<T extends object>(manager: SessionManager<T>, recorder: Recorder): () => void {
  const source = manager.options.store;
  const stops = [
    manager.on('created', () => recorder.count({ counter: 'created' })),
    manager.on('loggedIn', () => recorder.count({ counter: 'loggedIn' })),
    manager.on('rotated', () => recorder.count({ counter: 'rotated' })),
    manager.on('revoked', (event) => recorder.count({ counter: 'ended', reason: event.reason })),
    manager.on('expired', () => recorder.count({ counter: 'ended', reason: 'expired' })),
    manager.on('bruteForce', () => recorder.count({ counter: 'bruteForce' })),
    manager.on('webhook', (event) => recorder.count({ counter: 'webhook', outcome: event.outcome })),
  ];

  const unknownTokens = channel(UNKNOWN_TOKEN_CHANNEL);
  const onUnknownToken = (message: unknown) => {
    if ((message as UnknownTokenMessage).source === source) recorder.count({ counter: 'unknownToken' });
  };
  unknownTokens.subscribe(onUnknownToken);

  // Per call: when it started, whether it failed, and the recorder's span. Keyed by the channel's
  // context object, which every event of one call shares.
  const calls = new WeakMap<StoreCallContext, { startedAt: number; span: unknown; failure: FailureKind | null; error: unknown }>();
  const handlers = {
    start(context: StoreCallContext) {
      if (context.source !== source) return;
      const span = recorder.storeCallStarted?.(context.store, context.operation);
      calls.set(context, { startedAt: performance.now(), span, failure: null, error: undefined });
    },
    end() {},
    asyncStart() {},
    error(context: StoreCallContext) {
      const call = calls.get(context);
      if (call === undefined) return;
      call.failure = failureKind(context.error);
      call.error = context.error;
    },
    asyncEnd(context: StoreCallContext) {
      const call = calls.get(context);
      if (call === undefined) return;
      calls.delete(context);
      recorder.storeCall(context.store, context.operation, (performance.now() - call.startedAt) / 1000, call.failure);
      recorder.storeCallEnded?.(call.span, call.failure, call.error);
    },
  };
  const stores = tracingChannel<unknown, StoreCallContext>(STORE_CHANNEL);
  stores.subscribe(handlers);

  return () => {
    for (const stop of stops) stop();
    unknownTokens.unsubscribe(onUnknownToken);
    stores.unsubscribe(handlers);
  };
}
