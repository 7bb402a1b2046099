/** The PostgreSQL store's outbox (`PostgresStore.outbox`): the notices table, one statement a call. */
import type { SessionNotice, SessionOutbox } from '../../store-kit/index.js';
import type { StorePool } from './pool.js';
import type { SqlContext } from './params.js';
import {
  addNoticesStatement,
  claimNoticesStatement,
  countNoticesStatement,
  deferNoticeStatement,
  type NoticeRow,
  noticeFromRow,
  removeNoticesStatement,
  trimNoticesStatement,
} from './sql-outbox.js';

export class PostgresOutbox implements SessionOutbox {
  readonly #pool: StorePool;
  readonly #sql: SqlContext;

  constructor(pool: StorePool, sql: SqlContext) {
    this.#pool = pool;
    this.#sql = sql;
  }

  async addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void> {
    if (notices.length === 0) return;
    await this.#pool.query(addNoticesStatement(this.#sql, notices), { write: true });
  }

  async claimNotices(options: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]> {
    const limit = Math.floor(options.limit);
    if (!(limit >= 1)) return [];
    const result = await this.#pool.query(claimNoticesStatement(this.#sql, { ...options, limit }), { write: true });
    return (result.rows as NoticeRow[]).map(noticeFromRow);
  }

  async removeNotices(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query(removeNoticesStatement(this.#sql, ids), { write: true });
  }

  async deferNotice(id: string, dueAt: number): Promise<void> {
    await this.#pool.query(deferNoticeStatement(this.#sql, id, dueAt), { write: true });
  }

  async countNotices(): Promise<number> {
    const result = await this.#pool.query(countNoticesStatement(this.#sql));
    return (result.rows[0] as { n: number }).n;
  }

  async trimNotices(max: number): Promise<number> {
    if (max === Number.POSITIVE_INFINITY) return 0;
    const result = await this.#pool.query(trimNoticesStatement(this.#sql, Math.max(0, Math.floor(max) || 0)), { write: true });
    return (result.rows[0] as { n: number }).n;
  }
}
