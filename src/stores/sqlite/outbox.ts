import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EndReason, NoticeType, SessionNotice, SessionOutbox } from '../../store-kit/index.js';
import type { SqliteStatement, SqliteTransaction } from './driver.js';
import type { StatementName } from './schema.js';

/** Most notices one transaction of a trim removes; the event loop turns between them. */
const TRIM_SLICE_ROWS = 500;

/** What the outbox borrows from its store: the store's statements, lock queue and error translation. */
export interface OutboxAccess {
  transaction<T>(fn: () => T): SqliteTransaction<T>;
  statement(name: StatementName): SqliteStatement;
  run<T>(work: () => T, write?: boolean): Promise<T>;
}

interface NoticeRow {
  id: string;
  type: NoticeType;
  session_id: string;
  subject: string | null;
  reason: EndReason | null;
  at: number;
  attempts: number;
}

/** A count or limit from a caller, as SQLite must be given it (a negative LIMIT means none at all). */
function rows(n: number): number {
  return n >= 0 ? Math.floor(Math.min(n, Number.MAX_SAFE_INTEGER)) : 0;
}

/**
 * The SQLite store's notices, in the table beside its sessions. A claim selects and leases in one
 * `BEGIN IMMEDIATE` transaction: it holds the write lock from its first read, so processes on
 * one file claim one after another and never the same notice before its lease ends.
 */
export class SqliteOutbox implements SessionOutbox {
  readonly #access: OutboxAccess;

  constructor(access: OutboxAccess) {
    this.#access = access;
  }

  /** Records notices due at `due` (each at its own `at` when not given); inside the caller's transaction. */
  record(notices: readonly Omit<SessionNotice, 'attempts'>[], due?: number): void {
    const add = this.#access.statement('addNotice');
    for (const n of notices) add.run(n.id, n.type, n.sessionId, n.subject, n.reason, n.at, due ?? n.at);
  }

  async addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void> {
    if (notices.length === 0) return;
    await this.#access.run(() => this.#access.transaction(() => this.record(notices)).immediate());
  }

  async claimNotices(options: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]> {
    const { now, leaseUntil } = options;
    const limit = rows(options.limit);
    if (limit === 0) return [];
    return this.#access.run(() =>
      this.#access
        .transaction(() => {
          const due = this.#access.statement('dueNotices').all(now, limit) as NoticeRow[];
          const lease = this.#access.statement('leaseNotice');
          return due.map((row): SessionNotice => {
            lease.run(leaseUntil, row.id);
            return {
              id: row.id,
              type: row.type,
              sessionId: row.session_id,
              subject: row.subject,
              reason: row.reason,
              at: Number(row.at),
              attempts: Number(row.attempts) + 1,
            };
          });
        })
        .immediate(),
    );
  }

  async removeNotices(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#access.run(() => this.#access.statement('removeNotices').run(JSON.stringify(ids)));
  }

  async deferNotice(id: string, dueAt: number): Promise<void> {
    await this.#access.run(() => this.#access.statement('deferNotice').run(dueAt, id));
  }

  /** SQLite keeps no row count: this walks the smallest index, which the worker's trims keep bounded. */
  async countNotices(): Promise<number> {
    return this.#access.run(() => (this.#access.statement('countNotices').get() as { n: number }).n, false);
  }

  /**
   * In slices of `TRIM_SLICE_ROWS`, each one statement that finds the excess afresh, so that trims
   * from several processes at once never remove more than the excess; the event loop turns between them.
   */
  async trimNotices(max: number): Promise<number> {
    if (Number.isNaN(max)) return 0;
    const keep = rows(max);
    let removed = 0;
    for (;;) {
      const { changes } = await this.#access.run(() => this.#access.statement('trimNotices').run(TRIM_SLICE_ROWS, keep));
      removed += changes;
      if (changes < TRIM_SLICE_ROWS) return removed;
      await nextTurn();
    }
  }
}
