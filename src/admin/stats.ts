import type { RevokeReason, SessionEvent, SessionManager } from '../core/index.js';

/** The counters of `GET api/stats`' `recent`: this process's events in the last hour. */
export interface RecentCounts {
  /** Anonymous sessions stored. */
  created: number;
  /** Successful logins. */
  loggedIn: number;
  /** Sessions ended before their time, by reason. */
  revoked: Record<RevokeReason, number>;
  /** Sessions the sweep removed after they expired. */
  expired: number;
  /** The window the counts cover, in seconds (or less, since the process started). */
  windowSeconds: number;
}

type Kind = 'created' | 'loggedIn' | 'expired' | `revoked:${RevokeReason}`;
const KINDS: Kind[] = ['created', 'loggedIn', 'expired', 'revoked:logout', 'revoked:user', 'revoked:admin', 'revoked:evicted'];

export const WINDOW_SECONDS = 3600;
// One bucket a minute: memory stays at 60 small maps however busy the app, and the window slides
// with a minute's precision, which is all a dashboard counter needs.
const BUCKET_MS = 60_000;
const BUCKETS = WINDOW_SECONDS / 60;

/**
 * Counts the manager's events in a sliding hour. Only this process's events are seen: another
 * instance's logins are not (the stats say so through `windowSeconds` and the docs).
 */
export class RecentEvents {
  readonly #buckets = new Map<number, Map<Kind, number>>();
  readonly #now: () => number;
  readonly #unsubscribe: () => void;

  constructor(manager: SessionManager) {
    this.#now = () => manager.options.clock.now();
    this.#unsubscribe = manager.subscribe((event) => this.#record(event));
  }

  #record(event: SessionEvent): void {
    let kind: Kind;
    if (event.type === 'created' || event.type === 'loggedIn' || event.type === 'expired') kind = event.type;
    else if (event.type === 'revoked') kind = `revoked:${event.reason}`;
    else return;
    const slot = Math.floor(event.at / BUCKET_MS);
    let bucket = this.#buckets.get(slot);
    if (bucket === undefined) {
      bucket = new Map();
      this.#buckets.set(slot, bucket);
      this.#prune(slot);
    }
    bucket.set(kind, (bucket.get(kind) ?? 0) + 1);
  }

  #prune(current: number): void {
    for (const slot of this.#buckets.keys()) if (slot <= current - BUCKETS) this.#buckets.delete(slot);
  }

  /** The counts of the last hour. */
  counts(): RecentCounts {
    const current = Math.floor(this.#now() / BUCKET_MS);
    this.#prune(current);
    const sum = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
    for (const [slot, bucket] of this.#buckets) {
      if (slot > current) continue;
      for (const [kind, n] of bucket) sum[kind] += n;
    }
    return {
      created: sum.created,
      loggedIn: sum.loggedIn,
      revoked: { logout: sum['revoked:logout'], user: sum['revoked:user'], admin: sum['revoked:admin'], evicted: sum['revoked:evicted'] },
      expired: sum.expired,
      windowSeconds: WINDOW_SECONDS,
    };
  }

  /** Stops listening to the manager. */
  close(): void {
    this.#unsubscribe();
  }
}
