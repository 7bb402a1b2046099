import assert from 'node:assert/strict';
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { type Attributes, type Context, type ContextManager, context, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { ManualClock } from '../core/clock.js';
import { StoreUnavailableError } from '../core/errors.js';
import { SessionManager } from '../core/manager.js';
import type { SessionManagerOptions } from '../core/options.js';
import type { InvalidationListener } from '../core/store.js';
import { MemoryStore } from '../stores/memory/index.js';
import { sessionWebhooks } from '../webhooks/index.js';
import { WebhookReceiver } from '../../test/support/webhook-receiver.js';
import { instrumentSessions } from './opentelemetry.js';
import { prometheusMetrics } from './prometheus.js';

/** Enough of a context manager for spans started synchronously inside `with` (no async propagation). */
class StackContextManager implements ContextManager {
  readonly #stack: Context[] = [];
  active(): Context {
    return this.#stack.at(-1) ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A) {
    this.#stack.push(context);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#stack.pop();
    }
  }
  bind<T>(_context: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Every data point of the named metric, as `attributes → value` (`''` for no attributes; a histogram gives its count). */
function points(metrics: ResourceMetrics, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints) {
        const key = Object.entries(point.attributes as Attributes)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',');
        const value = point.value as number | { count: number };
        out[key] = typeof value === 'number' ? value : value.count;
      }
    }
  }
  return out;
}

/** prom-client's values of one metric as `labels → value`. */
async function promValues(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const out: Record<string, number> = {};
  for (const { labels, value, metricName } of (await metric.get()).values as Array<{
    labels: Record<string, unknown>;
    value: number;
    metricName?: string;
  }>) {
    const sample = metricName as string | undefined;
    if (sample !== undefined && sample !== name && !sample.endsWith('_count')) continue;
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',');
    out[key] = value;
  }
  return out;
}

function setUp(options: Partial<SessionManagerOptions> = {}) {
  const clock = new ManualClock();
  const store = new MemoryStore();
  const manager = new SessionManager({ store, clock, cleanupInterval: false, idleTimeout: 600, ...options });
  const issued: string[] = [];
  const request = async (token: string | null, ip = '192.0.2.1') => {
    const session = await manager.load({
      cookie: token === null ? undefined : `${manager.cookieName(false)}=${token}`,
      secure: false,
      ip,
      setCookie: () => {},
    });
    return session;
  };
  const token = (session: { issuedToken: string | null }) => {
    const value = session.issuedToken as string;
    issued.push(value);
    return value;
  };
  return { clock, store, manager, request, token, issued };
}

/** Logins, a rotation, a logout, revocations by the user and an admin, an eviction, unknown tokens, idle expiry. */
async function script(s: ReturnType<typeof setUp>) {
  const { manager, request, token, clock } = s;
  const a = await request(null);
  await a.set('cart', 1); // created
  await a.login('alice'); // loggedIn
  token(a);
  clock.advance(1_000);
  const b = await request(null);
  await b.login('alice'); // loggedIn (alice: 2)
  const bToken = token(b);
  clock.advance(1_000);
  const c = await request(null);
  await c.login('alice'); // loggedIn, evicts a (maxSessionsPerSubject 2)
  token(c);
  const b2 = await request(bToken);
  await b2.rotate(); // rotated
  const rotatedToken = token(b2);
  await (await request(rotatedToken)).logout(); // ended: logout
  await request(rotatedToken); // unknown token
  await request(rotatedToken); // unknown token, past bruteForceLimit 1: bruteForce
  const d = await request(null);
  await d.login('bob');
  token(d);
  clock.advance(1_000);
  const e = await request(null);
  await e.login('bob');
  token(e);
  await manager.revoke(d.id as string, 'user'); // ended: user
  await manager.revokeAll('bob'); // ended: admin (e)
  const f = await request(null);
  await f.login('carol');
  token(f);
  return { live: [c.id as string, f.id as string], ids: [a, b, c, d, e, f].map((x) => x.id as string), clock };
}

describe('metrics after a scripted series', () => {
  it('OpenTelemetry and Prometheus count the same exact values, and the live gauge is read at most every five seconds', async () => {
    const s = setUp({ maxSessionsPerSubject: 2, bruteForceLimit: 1 });
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const stopOtel = instrumentSessions(s.manager, { meterProvider });
    const registry = new Registry();
    const stopProm = prometheusMetrics(s.manager, { registry });

    const { clock } = await script(s);
    let otel = (await reader.collect()).resourceMetrics;
    assert.deepEqual(points(otel, 'tessera.sessions.created'), { '': 1 });
    assert.deepEqual(points(otel, 'tessera.sessions.logged_in'), { '': 6 });
    assert.deepEqual(points(otel, 'tessera.sessions.rotated'), { '': 1 });
    assert.deepEqual(points(otel, 'tessera.sessions.ended'), {
      'tessera.reason=evicted': 1,
      'tessera.reason=logout': 1,
      'tessera.reason=user': 1,
      'tessera.reason=admin': 1,
    });
    assert.deepEqual(points(otel, 'tessera.tokens.unknown'), { '': 2 });
    assert.deepEqual(points(otel, 'tessera.brute_force.detections'), { '': 1 });
    assert.deepEqual(points(otel, 'tessera.sessions.live'), { '': 2 });
    assert.deepEqual(points(otel, 'tessera.store.errors'), {});
    assert.ok((points(otel, 'tessera.store.operation.duration')['tessera.store=memory,tessera.operation=create'] ?? 0) >= 6);

    assert.deepEqual(await promValues(registry, 'tessera_sessions_created_total'), { '': 1 });
    assert.deepEqual(await promValues(registry, 'tessera_sessions_logged_in_total'), { '': 6 });
    assert.deepEqual(await promValues(registry, 'tessera_sessions_rotated_total'), { '': 1 });
    assert.deepEqual(await promValues(registry, 'tessera_sessions_ended_total'), {
      'reason=evicted': 1,
      'reason=logout': 1,
      'reason=user': 1,
      'reason=admin': 1,
    });
    assert.deepEqual(await promValues(registry, 'tessera_unknown_tokens_total'), { '': 2 });
    assert.deepEqual(await promValues(registry, 'tessera_brute_force_detections_total'), { '': 1 });
    assert.deepEqual(await promValues(registry, 'tessera_sessions_live'), { '': 2 });
    assert.equal(registry.getSingleMetric('tessera_webhook_outbox_backlog'), undefined, 'no outbox: no backlog gauge');
    assert.equal(registry.getSingleMetric('tessera_cache_hits_total'), undefined, 'no cache: no cache counters');

    // A new session is not seen until the reading is five seconds old: no count per scrape.
    await (await s.request(null)).login('dave');
    assert.deepEqual(await promValues(registry, 'tessera_sessions_live'), { '': 2 });
    clock.advance(5_000);
    assert.deepEqual(await promValues(registry, 'tessera_sessions_live'), { '': 3 });

    // Idle expiry: the sweep ends the three live sessions.
    clock.advance(601_000);
    assert.equal(await s.manager.sweep(), 3);
    otel = (await reader.collect()).resourceMetrics;
    assert.deepEqual(points(otel, 'tessera.sessions.ended')['tessera.reason=expired'], 3);
    assert.deepEqual(points(otel, 'tessera.sessions.live'), { '': 0 });
    assert.equal((await promValues(registry, 'tessera_sessions_ended_total'))['reason=expired'], 3);
    assert.deepEqual(await promValues(registry, 'tessera_sessions_live'), { '': 0 });
    assert.deepEqual(await promValues(registry, 'tessera_sessions_logged_in_total'), { '': 7 });

    const text = await registry.metrics();
    for (const id of s.issued) assert.ok(!text.includes(id.split('.')[0] as string), 'no session id in the scrape');

    stopProm();
    assert.equal(registry.getSingleMetric('tessera_sessions_created_total'), undefined, 'stop removes them');
    stopOtel();
    await (await s.request(null)).login('erin');
    otel = (await reader.collect()).resourceMetrics;
    assert.deepEqual(points(otel, 'tessera.sessions.logged_in'), { '': 7 }, 'nothing counted after stop');
    await meterProvider.shutdown();
  });

  it('counts cache hits, misses and invalidations by source when the manager has a cache', async () => {
    // A memory store with a channel the test drives, as Redis's would push another instance's changes.
    let listener: InvalidationListener | null = null;
    const memory = new MemoryStore();
    const store = new Proxy(memory, {
      get(target, property) {
        if (property === 'subscribeInvalidations')
          return (given: InvalidationListener) => {
            listener = given;
            return { probe: () => Promise.resolve(), close: () => Promise.resolve() };
          };
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const clock = new ManualClock();
    const manager = new SessionManager({ store, clock, cleanupInterval: false, cache: true });
    const registry = new Registry();
    const stop = prometheusMetrics(manager, { registry, prefix: 'app_' });
    const session = await manager.load({ secure: false, ip: null, setCookie: () => {} });
    await session.login('alice');
    const token = session.issuedToken as string;
    const cookie = `${manager.cookieName(false)}=${token}`;
    await manager.load({ cookie, secure: false, ip: null, setCookie: () => {} }); // hit: the login's answer is cached
    await manager.load({ cookie, secure: false, ip: null, setCookie: () => {} });
    (listener as InvalidationListener | null)?.invalidate([session.id as string]);
    await manager.load({ cookie, secure: false, ip: null, setCookie: () => {} }); // miss
    (listener as InvalidationListener | null)?.down();
    assert.deepEqual(await promValues(registry, 'app_tessera_cache_hits_total'), { '': 2 });
    assert.deepEqual(await promValues(registry, 'app_tessera_cache_misses_total'), { '': 1 });
    assert.deepEqual(await promValues(registry, 'app_tessera_cache_invalidations_total'), {
      'source=remote': 1,
      'source=echo': 0,
      'source=flush': 1,
    });
    stop();
    await manager.close();
  });
});

describe('store spans and errors', () => {
  const contextManager = new StackContextManager();
  before(() => context.setGlobalContextManager(contextManager));
  after(() => context.disable());

  it('one span per store call, a child of the active context, with the store and operation and nothing secret', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const s = setUp();
    const stop = instrumentSessions(s.manager, { tracerProvider, meterProvider: new MeterProvider() });
    const session = await s.request(null);
    await session.login('alice');
    const token = s.token(session);
    const loaded = await s.request(token);
    // Under an active span: the store call's span is its child.
    const parent = tracerProvider.getTracer('app').startSpan('request');
    assert.equal(await context.with(trace.setSpan(context.active(), parent), () => s.manager.count()), 1);
    parent.end();
    await loaded.logout();
    stop();
    await s.request(token); // not traced after stop
    const spans = exporter.getFinishedSpans().filter((span) => span.name !== 'request');
    assert.deepEqual(
      spans.map((span) => span.name),
      ['tessera.store create', 'tessera.store trimSubject', 'tessera.store load', 'tessera.store count', 'tessera.store delete'],
    );
    const counted = spans[3];
    assert.equal(counted?.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(counted?.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(spans[0]?.parentSpanContext, undefined, 'no active span: a root span');
    for (const span of spans) {
      assert.equal(span.attributes['tessera.store'], 'memory');
      assert.equal(span.attributes['tessera.operation'], span.name.split(' ')[1]);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      for (const value of Object.values(span.attributes)) {
        const text = String(value);
        assert.ok(!text.includes(session.id as string) && !text.includes(token) && !text.includes(token.split('.')[1] as string));
      }
    }
    await tracerProvider.shutdown();
  });

  it('a failing store call gives an error span and tessera_store_errors_total by kind', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    // count fails twice: an outage, then a bug (count has no undo that would add calls of its own).
    const failures: unknown[] = [new StoreUnavailableError('store down'), new TypeError('driver bug')];
    const memory = new MemoryStore();
    const store = new Proxy(memory, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (property === 'count' && failures.length > 0) return () => Promise.reject(failures.shift());
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const manager = new SessionManager({ store, clock: new ManualClock(), cleanupInterval: false, onStoreError: () => {} });
    const registry = new Registry();
    const stopProm = prometheusMetrics(manager, { registry });
    const stopOtel = instrumentSessions(manager, { tracerProvider, meterProvider: new MeterProvider() });
    await assert.rejects(manager.count(), StoreUnavailableError);
    await assert.rejects(manager.count(), TypeError);
    assert.equal(await manager.count(), 0);
    assert.deepEqual(await promValues(registry, 'tessera_store_errors_total'), {
      'store=memory,operation=count,kind=unavailable': 1,
      'store=memory,operation=count,kind=error': 1,
    });
    assert.deepEqual(await promValues(registry, 'tessera_store_operation_duration_seconds'), { 'store=memory,operation=count': 3 });
    assert.deepEqual(
      exporter.getFinishedSpans().map((span) => [span.name, span.status.code, span.attributes['error.type']]),
      [
        ['tessera.store count', SpanStatusCode.ERROR, 'unavailable'],
        ['tessera.store count', SpanStatusCode.ERROR, 'error'],
        ['tessera.store count', SpanStatusCode.UNSET, undefined],
      ],
    );
    stopProm();
    stopOtel();
    await tracerProvider.shutdown();
  });
});

describe('diagnostics channels', () => {
  it('tessera:store carries the store and operation of each call, and nothing is published without a subscriber', async () => {
    const s = setUp();
    const seen: string[] = [];
    const handlers = {
      start: (context: unknown) => {
        const { store, operation } = context as { store: string; operation: string };
        seen.push(`start ${store} ${operation}`);
      },
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (context: unknown) => seen.push(`asyncEnd ${(context as { operation: string }).operation}`),
      error: () => seen.push('error'),
    };
    const channel = tracingChannel('tessera:store');
    const session = await s.request(null);
    await session.set('x', 1); // before subscribing: not seen
    channel.subscribe(handlers);
    try {
      await session.login('alice');
      const token = s.token(session);
      await s.request(token);
    } finally {
      channel.unsubscribe(handlers);
    }
    await session.logout();
    assert.deepEqual(seen, [
      'start memory create',
      'asyncEnd create',
      'start memory trimSubject',
      'asyncEnd trimSubject',
      'start memory load',
      'asyncEnd load',
    ]);
  });

  it('tessera:unknown-token tells of each token that opened nothing, with no token, id or address', async () => {
    const s = setUp();
    const messages: unknown[] = [];
    const listener = (message: unknown) => messages.push(message);
    subscribe('tessera:unknown-token', listener);
    try {
      const session = await s.request(null);
      await session.login('alice');
      const token = s.token(session);
      await session.logout();
      await s.request(token);
    } finally {
      unsubscribe('tessera:unknown-token', listener);
    }
    assert.equal(messages.length, 1);
    assert.deepEqual(Object.keys(messages[0] as object), ['source']);
    assert.equal((messages[0] as { source: unknown }).source, s.manager.options.store);
  });
});

describe('webhook metrics', () => {
  it('count deliveries by outcome and read the outbox backlog, in OpenTelemetry and Prometheus alike', async () => {
    const receiver = await WebhookReceiver.start();
    let status = 500;
    receiver.respond = () => ({ status });
    const webhooks = sessionWebhooks({ url: receiver.url, secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}`, pollInterval: 3600 });
    const s = setUp({ webhooks });
    const registry = new Registry();
    const stopProm = prometheusMetrics(s.manager, { registry });
    const reader = new TestReader();
    const stopOtel = instrumentSessions(s.manager, { meterProvider: new MeterProvider({ readers: [reader] }) });
    try {
      for (const subject of ['ann', 'ben']) {
        const session = await s.request(null);
        await session.login(subject);
        await s.manager.revoke(session.id as string);
      }
      await webhooks.flush(); // both answered 500: retried later
      assert.deepEqual(await promValues(registry, 'tessera_webhook_outbox_backlog'), { '': 2 });
      status = 204;
      s.clock.advance(10_000); // past the first retry (5 s, jittered) and the gauge's 5 s
      await webhooks.flush();
      const third = await s.request(null);
      await third.login('cy');
      status = 410;
      await s.manager.revoke(third.id as string);
      await webhooks.flush();
      s.clock.advance(10_000);
      const expected = { 'outcome=retrying': 2, 'outcome=delivered': 2, 'outcome=disabled': 1 };
      assert.deepEqual(await promValues(registry, 'tessera_webhook_deliveries_total'), expected);
      assert.deepEqual(await promValues(registry, 'tessera_webhook_outbox_backlog'), { '': 0 });
      const { resourceMetrics } = await reader.collect();
      assert.deepEqual(points(resourceMetrics, 'tessera.webhook.deliveries'), {
        'tessera.outcome=retrying': 2,
        'tessera.outcome=delivered': 2,
        'tessera.outcome=disabled': 1,
      });
      assert.deepEqual(points(resourceMetrics, 'tessera.webhook.outbox.backlog'), { '': 0 });
    } finally {
      stopProm();
      stopOtel();
      s.manager.close();
      await webhooks.close();
      await receiver.close();
    }
  });
});
