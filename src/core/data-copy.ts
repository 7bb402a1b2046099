/**
 * Saving a detached copy of a session's data (express-session's mutable `req.session`) as a
 * change set: the keys whose JSON changed since the copy was made, and the keys removed, never
 * the whole object, so that requests changing different keys keep both.
 */
import type { JsonValue } from './store.js';

/** A session's change set: the values to set, by key, and the keys to delete. */
export interface CopyChanges {
  /** The keys whose JSON changed or that are new, with their values as JSON makes them. */
  set: Map<string, JsonValue>;
  /** The keys the copy no longer has. */
  removed: string[];
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

/** What saving `after` sends, of a copy whose snapshot was `before` (both from `jsonSnapshot`). */
export function snapshotChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): CopyChanges {
  const set = new Map<string, JsonValue>();
  for (const [key, json] of after) if (before.get(key) !== json) set.set(key, JSON.parse(json) as JsonValue);
  return { set, removed: [...before.keys()].filter((key) => !after.has(key)) };
}
