/**
 * Pages the way every store here makes them: ask for one more than the page, and whether it came
 * back says whether another page follows, so the last page costs no extra round trip and no count.
 */
import { BadRequestError } from '../core/errors.js';
import type { SessionPage, SessionRecord } from '../core/store.js';
import type { CreationKey } from './compare.js';

/**
 * A requested page size as a whole number, 0 when it is not positive. The core passes 1 to 1000;
 * a store still checks, since a SQL `LIMIT` reads a negative number as no limit at all.
 */
export function pageSize(limit: number): number {
  const size = Math.floor(limit);
  // biome-ignore lint/complexity/useMathMinMax: Math.max(NaN, 0) is NaN; a limit that is not a number must give 0
  return size > 0 ? size : 0;
}

/** How many to fetch for a page of `limit`: one more, to learn whether another page follows. */
export function lookahead(limit: number): number {
  return limit + 1;
}

/**
 * The first `limit` of `found` (fetched with `lookahead(limit)`, in page order), and the cursor
 * after the last of them when more follow. Generic, for a store whose entries carry more than the
 * record (Redis pages by index score).
 */
export function pageOf<T>(
  found: readonly T[],
  limit: number,
  cursorOf: (last: T) => string,
): {
  /** At most `limit` of `found`. */
  items: T[];
  /** The cursor after the last item when more follow; null on the last page. */
  nextCursor: string | null;
} {
  const items = found.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: found.length > limit && last !== undefined ? cursorOf(last) : null };
}

/** A listing cursor: `<createdAt>:<id>` of the previous page's last session. */
export function listingCursor(last: CreationKey): string {
  return `${last.createdAt}:${last.id}`;
}

/** A listing cursor read back; a cursor that is not one is the caller's mistake (`BadRequestError`). */
export function parseListingCursor(cursor: string): CreationKey {
  const at = cursor.indexOf(':');
  const createdAt = Number(cursor.slice(0, at));
  if (at < 1 || !Number.isSafeInteger(createdAt)) throw new BadRequestError('not a listing cursor');
  return { createdAt, id: cursor.slice(at + 1) };
}

/** A query cursor: the id of the previous page's last session (queries are ordered by id). */
export function queryCursor(last: { id: string }): string {
  return last.id;
}

/** A page of `listBySubject` from up to `lookahead(limit)` records in listing order. */
export function listingPage(found: readonly SessionRecord[], limit: number): SessionPage {
  const { items, nextCursor } = pageOf(found, limit, listingCursor);
  return { sessions: items, nextCursor };
}

/** A page of `query` from up to `lookahead(limit)` records in id order. */
export function queryPage(found: readonly SessionRecord[], limit: number): SessionPage {
  const { items, nextCursor } = pageOf(found, limit, queryCursor);
  return { sessions: items, nextCursor };
}
