// Load that fault tests run while they break a server: what each request met, and when.
import { StoreUnavailableError, type Session } from '../../src/core/index.js';

export type OutcomeKind = 'ok' | 'no-session' | 'unavailable' | 'other';

export interface Outcome {
  user: string;
  kind: OutcomeKind;
  /** How long the request took. */
  ms: number;
  /** When it started (`performance.now()`). */
  at: number;
  error?: unknown;
}

/**
 * One client's loop: loads its session through `request` and increments `n` when it is there,
 * every 5 ms until `stopped()` (at most 5,000 times), recording each outcome in `outcomes`.
 */
export async function loadAndIncrement(
  user: string,
  request: () => Promise<Session>,
  outcomes: Outcome[],
  stopped: () => boolean,
): Promise<void> {
  for (let i = 0; i < 5000 && !stopped(); i++) {
    const started = performance.now();
    try {
      const session = await request();
      if (session.isStored) await session.increment('n');
      outcomes.push({ user, kind: session.isStored ? 'ok' : 'no-session', ms: performance.now() - started, at: started });
    } catch (error) {
      outcomes.push({
        user,
        kind: error instanceof StoreUnavailableError ? 'unavailable' : 'other',
        ms: performance.now() - started,
        at: started,
        error,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Checks `condition` every `stepMs` until it holds or `deadline` (a `performance.now()` time) has
 * passed: the time it first held, or null.
 */
export async function firstHeldAt(condition: () => boolean | Promise<boolean>, deadline: number, stepMs = 10): Promise<number | null> {
  for (;;) {
    if (await condition()) return performance.now();
    if (performance.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
