import type { SessionRecord } from '../../store-kit/index.js';

/** Sessions whose lastSeenAt the store remembers; when full it starts over. */
const ENTRIES = 50_000;

/**
 * The lastSeenAt and idle timeout of sessions this process saw recently, by id. lastSeenAt only
 * moves forward, so a remembered one is a lower bound: when even that says no touch is due, none
 * is, and a load can be a plain `HGETALL` instead of the LOAD script.
 */
export class LastSeen {
  readonly #entries = new Map<string, { lastSeenAt: number; idleTimeout: number }>();

  get(id: string): { readonly lastSeenAt: number; readonly idleTimeout: number } | undefined {
    return this.#entries.get(id);
  }

  remember(record: SessionRecord): void {
    const seen = this.#entries;
    const known = seen.get(record.id);
    if (known !== undefined) {
      known.lastSeenAt = Math.max(known.lastSeenAt, record.lastSeenAt);
      known.idleTimeout = record.idleTimeout;
      return;
    }
    if (seen.size >= ENTRIES) seen.clear();
    seen.set(record.id, { lastSeenAt: record.lastSeenAt, idleTimeout: record.idleTimeout });
  }
}
