/** What the store checks of a change set before choosing its script. */
import type { ChangeSet } from '../../store-kit/index.js';

/** What `ApplyOptions.idempotency` allows as a key. */
export const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,256}$/;

/** A change set of integer increments only: the INCREMENT script's case. */
export function isIncrementOnly(changes: ChangeSet): changes is ChangeSet & { increment: Record<string, number> } {
  for (const key in changes) {
    if (key !== 'increment' && (changes as Record<string, unknown>)[key] !== undefined) return false;
  }
  return changes.increment !== undefined;
}
