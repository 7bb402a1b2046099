/**
 * The two orders the store contract names, for stores that sort or search in JavaScript. Ids are
 * compared by UTF-16 code unit, which for their base64url characters is byte order: the order of
 * a SQL column with a binary collation and of Redis members.
 */

/** A session's place in its subject's listing: by `createdAt`, then id. */
export interface CreationKey {
  /** When the session was first stored. */
  createdAt: number;
  /** Its public id, which breaks ties. */
  id: string;
}

/** Two ids in byte order, as a SQL column with a binary collation and Redis order them. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Query order (`SessionIndex.query`): by id. */
export function compareById(a: { id: string }, b: { id: string }): number {
  return compareIds(a.id, b.id);
}

/** Listing order (`listBySubject`, `trimSubject`, `deleteBySubject`): oldest first, then by id. */
export function compareCreation(a: CreationKey, b: CreationKey): number {
  return a.createdAt - b.createdAt || compareIds(a.id, b.id);
}
