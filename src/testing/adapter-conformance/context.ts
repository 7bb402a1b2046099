import { after, before } from 'node:test';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore, lostReplyStore } from '../fixtures.js';
import { AppClient, Browser } from './client.js';
import type { AdapterApp, AdapterConformanceOptions } from './harness.js';

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
export interface AdapterContext {
  readonly manager: SessionManager;
  readonly clock: ManualClock;
  /** The app that trusts no proxy: `X-Forwarded-*` must change nothing. */
  readonly direct: AppClient;
  /** The app behind one trusted reverse proxy: the last `X-Forwarded-*` entries are believed. */
  readonly proxied: AppClient;
  /** A new browser on an app, holding no cookie; `headers` go with each of its requests. */
  browser(app: AppClient, headers?: Record<string, string>): Browser;
  /**
   * Makes store calls fail with `StoreUnavailableError`: every one (`true`), none (`false`), or
   * those of the operations (`'load'`, `'apply'`, `'create'`…) the predicate picks.
   */
  storeDown(down: boolean | ((operation: string) => boolean)): void;
  /** The operations of the store failures the manager reported (`onStoreError`), oldest first. */
  readonly storeErrors: string[];
  /**
   * Holds the next `count` store loads back and lets them all go together once the last arrives,
   * so that `count` requests are inside the app at once. `release()` lets go of what it holds
   * sooner (a guard against an app that never gets there); `filled` says whether all came.
   */
  holdLoads(count: number): { release(): void; readonly filled: boolean };
  /**
   * Makes the store's `apply` calls run but lose their answer (`StoreUnavailableError`, as on a
   * timeout after the store did the work) while `lose` is true.
   */
  loseApplyReplies(lose: boolean): void;
}

/** Registers the hooks that start and stop the apps; call it inside the suite's `describe`. */
export function adapterContext(options: AdapterConformanceOptions): AdapterContext {
  let down: (operation: string) => boolean = () => false;
  /** The store method being called: set just before `faultyStore` asks whether to fail it. */
  let calling = '';
  const storeErrors: string[] = [];
  let losingReplies = false;
  let held: { count: number; waiting: Array<() => void>; filled: boolean } | null = null;
  const releaseHeld = (): void => {
    const waiting = held?.waiting ?? [];
    held = null;
    for (const resume of waiting) resume();
  };
  let manager: SessionManager | null = null;
  let clock: ManualClock | null = null;
  let memory: MemoryStore | null = null;
  const apps: AdapterApp[] = [];
  const clients = new Map<'direct' | 'proxied', AppClient>();

  before(async () => {
    clock = new ManualClock();
    memory = new MemoryStore();
    const faulty = faultyStore(
      lostReplyStore(memory, 'apply', () => losingReplies),
      () => down(calling),
      RETRY_AFTER,
    );
    manager = new SessionManager({
      store: new Proxy(faulty, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (typeof value !== 'function') return value;
          if (property === 'close') return value.bind(target);
          return async (...args: unknown[]) => {
            // A store across a network answers in a later turn of the event loop; the memory
            // store answers at once, and then each request would run from its load to its last
            // write before the next one is even read, hiding every race between requests.
            await new Promise((resolve) => setImmediate(resolve));
            if (property === 'load' && held !== null) {
              const gate = held;
              await new Promise<void>((resume) => {
                gate.waiting.push(resume);
                if (gate.waiting.length < gate.count) return;
                gate.filled = true;
                releaseHeld();
              });
            }
            calling = String(property);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      }),
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
    down = () => false;
    losingReplies = false;
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
      down = typeof value === 'function' ? value : () => value;
    },
    storeErrors,
    loseApplyReplies(lose) {
      losingReplies = lose;
    },
    holdLoads(count) {
      const gate = { count, waiting: [], filled: false };
      held = gate;
      return {
        release: () => {
          if (held === gate) releaseHeld();
        },
        get filled() {
          return gate.filled;
        },
      };
    },
  };
}
