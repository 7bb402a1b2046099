import { after, before } from 'node:test';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../fixtures.js';
import { AppClient, Browser } from './client.js';
import type { AdapterApp, AdapterConformanceOptions } from './harness.js';

/** The session cookie's name over plain HTTP. */
export const COOKIE_NAME = 'tessera';
/** What the store's outage tells clients to wait, in seconds. */
export const RETRY_AFTER = 7;

/**
 * What every case shares: one store (memory, able to fail on demand), one manager on it, and two
 * apps from the adapter under test on that manager, one trusting one reverse proxy and one
 * trusting none. Read them in a test's body: they exist once the suite's `before` has run.
 */
export interface AdapterContext {
  readonly manager: SessionManager;
  readonly clock: ManualClock;
  /** The app that trusts no proxy: `X-Forwarded-*` must change nothing. */
  readonly direct: AppClient;
  /** The app behind one trusted reverse proxy: the last `X-Forwarded-*` entries are believed. */
  readonly proxied: AppClient;
  /** A new browser on an app, holding no cookie; `headers` go with each of its requests. */
  browser(app: AppClient, headers?: Record<string, string>): Browser;
  /** Makes every store call fail with `StoreUnavailableError` (or work again). */
  storeDown(down: boolean): void;
}

/** Registers the hooks that start and stop the apps; call it inside the suite's `describe`. */
export function adapterContext(options: AdapterConformanceOptions): AdapterContext {
  let down = false;
  let manager: SessionManager | null = null;
  let clock: ManualClock | null = null;
  let memory: MemoryStore | null = null;
  const apps: AdapterApp[] = [];
  const clients = new Map<'direct' | 'proxied', AppClient>();

  before(async () => {
    clock = new ManualClock();
    memory = new MemoryStore();
    manager = new SessionManager({
      store: faultyStore(memory, () => down, RETRY_AFTER),
      clock,
      cleanupInterval: false,
      cookie: { name: COOKIE_NAME },
      // Every request of the suite comes from 127.0.0.1 and the clock stands still: the
      // per-address bound on new sessions would refuse the suite's own browsers.
      anonymousSessionLimit: false,
    });
    for (const [label, trustProxy] of [
      ['direct', false],
      ['proxied', true],
    ] as const) {
      const app = await options.start({ manager, trustProxy });
      apps.push(app);
      clients.set(label, new AppClient(`${options.name} (${label})`, app.url.replace(/\/$/, ''), COOKIE_NAME));
    }
  });
  after(async () => {
    down = false;
    await Promise.all(apps.splice(0).map((app) => app.close()));
    manager?.close();
    await memory?.close();
  });

  const required = <T>(value: T | null | undefined, what: string): T => {
    if (value === null || value === undefined) throw new Error(`${what} is not ready: read the context inside a test`);
    return value;
  };
  return {
    get manager() {
      return required(manager, 'the manager');
    },
    get clock() {
      return required(clock, 'the clock');
    },
    get direct() {
      return required(clients.get('direct'), 'the app that trusts no proxy');
    },
    get proxied() {
      return required(clients.get('proxied'), 'the app behind a trusted proxy');
    },
    browser(app, headers = {}) {
      return new Browser(app, headers);
    },
    storeDown(value) {
      down = value;
    },
  };
}
