import { after, before } from 'node:test';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { AppClient, Browser } from './client.js';
import type { AdapterApp, AdapterConformanceOptions } from './harness.js';
import { suiteStore, type SuiteStore } from './suite-store.js';

/** The session cookie's name over plain HTTP. */
export const COOKIE_NAME = 'tessera';
/** What the store's outage tells clients to wait, in seconds. */
export const RETRY_AFTER = 7;
/** The manager's `maxValueBytes`. */
export const MAX_VALUE_BYTES = 1024;

/**
 * What every case shares: one store (memory, able to fail on demand), one manager on it, and two
 * apps from the adapter under test on that manager, one trusting one reverse proxy and one
 * trusting none. Read them in a test's body: they exist once the suite's `before` has run.
 */
export interface AdapterContext extends Omit<SuiteStore, 'store'> {
  readonly manager: SessionManager;
  /** The manager's clock, which moves only when a case moves it. */
  readonly clock: ManualClock;
  /** The app that trusts no proxy: `X-Forwarded-*` must change nothing. */
  readonly direct: AppClient;
  /** The app behind one trusted reverse proxy: the last `X-Forwarded-*` entries are believed. */
  readonly proxied: AppClient;
  /** A new browser on an app, holding no cookie; `headers` go with each of its requests. */
  browser(app: AppClient, headers?: Record<string, string>): Browser;
  /** The operations of the store failures the manager reported (`onStoreError`), oldest first. */
  readonly storeErrors: string[];
}

/** Registers the hooks that start and stop the apps; call it inside the suite's `describe`. */
export function adapterContext(options: AdapterConformanceOptions): AdapterContext {
  const memory = new MemoryStore();
  const controlled = suiteStore(memory, RETRY_AFTER);
  const clock = new ManualClock();
  const storeErrors: string[] = [];
  let manager: SessionManager | null = null;
  const apps: AdapterApp[] = [];
  const clients = new Map<'direct' | 'proxied', AppClient>();

  before(async () => {
    manager = new SessionManager({
      store: controlled.store,
      clock,
      cleanupInterval: false,
      cookie: { name: COOKIE_NAME },
      // Every request of the suite comes from 127.0.0.1 and the clock stands still: the
      // per-address bound on new sessions would refuse the suite's own browsers.
      anonymousSessionLimit: false,
      // Small enough that a value past it fits in a URL.
      maxValueBytes: MAX_VALUE_BYTES,
      // The outages are the suite's own doing: noted for its assertions, not logged.
      onStoreError: (_error, { operation }) => {
        storeErrors.push(operation);
      },
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
    controlled.storeDown(false);
    controlled.loseApplyReplies(false);
    await Promise.all(apps.splice(0).map((app) => app.close()));
    manager?.close();
    await memory.close();
  });

  const required = <T>(value: T | null | undefined, what: string): T => {
    if (value === null || value === undefined) throw new Error(`${what} is not ready: read the context inside a test`);
    return value;
  };
  return {
    get manager() {
      return required(manager, 'the manager');
    },
    clock,
    get direct() {
      return required(clients.get('direct'), 'the app that trusts no proxy');
    },
    get proxied() {
      return required(clients.get('proxied'), 'the app behind a trusted proxy');
    },
    browser(app, headers = {}) {
      return new Browser(app, headers);
    },
    storeErrors,
    storeDown: controlled.storeDown,
    loseApplyReplies: controlled.loseApplyReplies,
    holdLoads: controlled.holdLoads,
  };
}
