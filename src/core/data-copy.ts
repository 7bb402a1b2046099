/**
 * Saving a detached copy of a session's data (express-session's mutable `req.session`) as a
 * change set: the keys whose JSON changed since the copy was made, and the keys removed, never
 * the whole object, so that requests changing different keys keep both.
 */
import type { Session } from './session.js';
import type { JsonValue } from './store.js';

/** A copy's change set: the values to set, by key, and the keys to delete; and the copy's snapshot once they are saved. */
export interface CopyChanges {
  /** The keys whose JSON changed or that are new, with their values as JSON makes them. */
  set: Map<string, JsonValue>;
  /** The keys the copy no longer has. */
  removed: string[];
  /** The copy's `jsonSnapshot`, to compare the next save with. */
  snapshot: Map<string, string>;
}

/** Each key of `data` but those in `skip`, with its value's JSON; a value JSON leaves out (`undefined`, a function) counts as absent. */
export function jsonSnapshot(data: Record<string, unknown>, skip: readonly string[] = []): Map<string, string> {
  const snapshot = new Map<string, string>();
  for (const [key, value] of Object.entries(data)) {
    const json = skip.includes(key) ? undefined : JSON.stringify(value);
    if (json !== undefined) snapshot.set(key, json);
  }
  return snapshot;
}

/** What saving the copy `data` sends, given its `jsonSnapshot` (with the same `skip`) when last saved or made. */
export function snapshotChanges(
  before: ReadonlyMap<string, string>,
  data: Record<string, unknown>,
  skip: readonly string[] = [],
): CopyChanges {
  const snapshot = jsonSnapshot(data, skip);
  const set = new Map<string, JsonValue>();
  for (const [key, json] of snapshot) if (before.get(key) !== json) set.set(key, JSON.parse(json) as JsonValue);
  return { set, removed: [...before.keys()].filter((key) => !snapshot.has(key)), snapshot };
}

/** Sends `changes` to `session`, with a new idle timeout unless `idleTimeout` is null; resolves once all are stored. */
export function writeChanges(session: Session, changes: CopyChanges, idleTimeout: number | null): Promise<unknown> {
  const writes = [...[...changes.set].map(([key, value]) => session.set(key, value)), ...changes.removed.map((key) => session.delete(key))];
  if (idleTimeout !== null) writes.push(session.setIdleTimeout(idleTimeout));
  return Promise.all(writes);
}
