// What the invalidation tests share: a listener that records what it is told, and bounded waits.
import type { InvalidationListener, InvalidationSubscription } from '../../src/core/store.js';

/** Records every call, as the cache in front of a store would receive them. */
export class Recorder implements InvalidationListener {
  readonly ids: string[] = [];
  all = 0;
  downs = 0;
  invalidate(ids: readonly string[]): void {
    this.ids.push(...ids);
  }
  invalidateAll(): void {
    this.all++;
  }
  down(): void {
    this.downs++;
  }
}

/** Polls `check` until it holds; fails with `what` after `timeoutMs` (a bound, not a measured timing). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until a probe of the subscription resolves. */
export function healthy(subscription: InvalidationSubscription): Promise<void> {
  return waitFor('a probe to resolve', () =>
    subscription.probe().then(
      () => true,
      () => false,
    ),
  );
}

/** Whether a probe rejects now. */
export function probeRejects(subscription: InvalidationSubscription): Promise<boolean> {
  return subscription.probe().then(
    () => false,
    () => true,
  );
}
