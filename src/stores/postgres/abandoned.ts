/**
 * Statements the client gave up on while the server may still run them. When `pg`'s client-side
 * timeout fires (or the connection breaks) after a statement was sent, the server does not know:
 * a statement waiting for a lock goes on waiting, then runs and, outside a transaction, commits,
 * long after the caller got a 503. An undo sent meanwhile on another connection (the core deletes
 * a login whose outcome is unknown) would find nothing and the write would land after it. So the
 * backend of such a statement is remembered and ended with `pg_terminate_backend`, and every later
 * write waits until it is gone: by then its statement has committed or rolled back, and the undo
 * sees which.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError } from '../../store-kit/index.js';
import { isUnavailable, translateError, type PgPool, type PgPoolClient } from './driver.js';

/** What `pg`'s `Client` exposes about its server process (not part of the `PgPoolClient` slice: absent on other pools). */
interface BackendIdentity {
  processID?: unknown;
  connection?: { stream?: { localPort?: unknown } };
}

/** Backends of one address: its `client_port` as the server sees it, so that a reused pid is not mistaken for it. */
const MATCH = `FROM pg_stat_activity a JOIN unnest($1::int[], $2::int[]) AS x(pid, port)
  ON a.pid = x.pid AND (x.port IS NULL OR a.client_port = x.port) WHERE a.pid <> pg_backend_pid()`;

/**
 * Whether a failed statement may still run on the server: the client stopped waiting (its
 * timeout, a broken connection) rather than the server answering with an error, which it only
 * does once the statement is over.
 */
export function mayStillRun(error: unknown): boolean {
  return isUnavailable(error) && (error as { severity?: unknown }).severity === undefined;
}

export class AbandonedStatements {
  /** pid → the client's local port (null when unknown, e.g. over a Unix socket). */
  readonly #backends = new Map<number, number | null>();
  #settling: Promise<void> | null = null;

  get pending(): boolean {
    return this.#backends.size > 0;
  }

  /** Remembers the server process of `client`, whose statement the client gave up on. */
  add(client: PgPoolClient): void {
    const identity = client as unknown as BackendIdentity;
    const pid = identity.processID;
    if (typeof pid !== 'number') return;
    const port = identity.connection?.stream?.localPort;
    this.#backends.set(pid, typeof port === 'number' ? port : null);
  }

  /**
   * Resolves once every remembered backend has exited (terminated here if it still ran), within
   * `waitMs`; otherwise rejects with `StoreUnavailableError` and keeps them for the next call.
   */
  settle(pool: PgPool, waitMs: number, queryTimeout: number): Promise<void> {
    this.#settling ??= this.#terminate(pool, waitMs, queryTimeout).finally(() => {
      this.#settling = null;
    });
    return this.#settling;
  }

  async #terminate(pool: PgPool, waitMs: number, queryTimeout: number): Promise<void> {
    const entries = [...this.#backends];
    const values = [entries.map(([pid]) => pid), entries.map(([, port]) => port)];
    const giveUpAt = performance.now() + waitMs;
    try {
      await pool.query({ text: `SELECT pg_terminate_backend(a.pid) ${MATCH}`, values, query_timeout: queryTimeout });
      for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
        const alive = await pool.query({ text: `SELECT count(*)::int AS n ${MATCH}`, values, query_timeout: queryTimeout });
        if ((alive.rows[0] as { n: number }).n === 0) break;
        if (performance.now() >= giveUpAt)
          throw new StoreUnavailableError('a statement the client gave up on is still running on the PostgreSQL server');
        await sleep(wait);
      }
    } catch (error) {
      // Only an outage is worth waiting out; anything else (say, no right to end the backend)
      // would block every write for good: then this is best effort.
      if (error instanceof StoreUnavailableError || isUnavailable(error)) throw translateError(error);
    }
    for (const [pid] of entries) this.#backends.delete(pid);
  }
}
