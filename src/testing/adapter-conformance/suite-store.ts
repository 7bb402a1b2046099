import type { SessionStore } from '../../core/index.js';
import { faultyStore, lostReplyStore } from '../fixtures.js';

/** The suite's store and the ways a case can make it misbehave. */
export interface SuiteStore {
  /** The store the manager is given. */
  readonly store: SessionStore;
  /**
   * Makes store calls fail with `StoreUnavailableError`: every one (`true`), none (`false`), or
   * those of the operations (`'load'`, `'apply'`, `'create'`…) the predicate picks.
   */
  storeDown(down: boolean | ((operation: string) => boolean)): void;
  /**
   * Makes the store's `apply` calls run but lose their answer (`StoreUnavailableError`, as on a
   * timeout after the store did the work) while `lose` is true.
   */
  loseApplyReplies(lose: boolean): void;
  /**
   * Holds the next `count` store loads back (later ones go through). With `'together'` they all
   * go once the last arrives, so that `count` requests are inside the app at once; with
   * `'when released'` they wait for `release()`, to make a request finish last. `release()` lets
   * go of what is held (also a guard against an app that never brings them all); `arrived`
   * resolves and `filled` turns true once all `count` are held.
   */
  holdLoads(count: number, letGo: 'together' | 'when released'): HeldLoads;
}

/** Loads `holdLoads` holds back. */
export interface HeldLoads {
  release(): void;
  readonly filled: boolean;
  readonly arrived: Promise<void>;
}

interface Gate {
  count: number;
  together: boolean;
  waiting: Array<() => void>;
  filled: boolean;
  arrive(): void;
}

/**
 * Wraps `inner` (the memory store) so that every call answers a turn of the event loop later, as
 * a store across a network does, and a case can make calls fail, lose their answers or wait for
 * each other. `retryAfter` is what a failure tells clients.
 */
export function suiteStore(inner: SessionStore, retryAfter: number): SuiteStore {
  let down: (operation: string) => boolean = () => false;
  /** The store method being called: set just before `faultyStore` asks whether to fail it. */
  let calling = '';
  let losingReplies = false;
  let held: Gate | null = null;
  const releaseHeld = (): void => {
    const waiting = held?.waiting ?? [];
    held = null;
    for (const resume of waiting) resume();
  };
  const faulty = faultyStore(
    lostReplyStore(inner, 'apply', () => losingReplies),
    () => down(calling),
    retryAfter,
  );
  const store = new Proxy(faulty, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'close') return value.bind(target);
      return async (...args: unknown[]) => {
        // The memory store answers at once, and then each request would run from its load to its
        // last write before the next one is even read, hiding every race between requests.
        await new Promise((resolve) => setImmediate(resolve));
        if (property === 'load' && held !== null && !held.filled) {
          const gate = held;
          await new Promise<void>((resume) => {
            gate.waiting.push(resume);
            if (gate.waiting.length < gate.count) return;
            gate.filled = true;
            gate.arrive();
            if (gate.together) releaseHeld();
          });
        }
        calling = String(property);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store,
    storeDown(value) {
      down = typeof value === 'function' ? value : () => value;
    },
    loseApplyReplies(lose) {
      losingReplies = lose;
    },
    holdLoads(count, letGo) {
      releaseHeld();
      let arrive = (): void => {};
      const arrived = new Promise<void>((resolve) => {
        arrive = resolve;
      });
      const gate: Gate = { count, together: letGo === 'together', waiting: [], filled: false, arrive };
      held = gate;
      return {
        release: () => {
          if (held === gate) releaseHeld();
        },
        get filled() {
          return gate.filled;
        },
        arrived,
      };
    },
  };
}
