/**
 * Revocations and rotations as other instances see them: the statements that remove sessions
 * publish them with `pg_notify`, and a store that is watched holds one `LISTEN` connection out of
 * the pool, re-established by itself when it drops.
 */
import { StoreUnavailableError } from '../../store-kit/index.js';
import { quoteIdent, translateError, type PgNotification, type PgPoolClient } from './driver.js';
import type { StorePool } from './pool.js';

/** A change other instances may need to react to, for example by dropping a cached session. */
export interface SessionChange {
  /** `revoked`: deleted (logout, admin, eviction); `replaced`: superseded by login or rotation. */
  type: 'revoked' | 'replaced';
  /** The session's public id. */
  id: string;
  /** Its user; null for an anonymous session. */
  subject: string | null;
}

/** Receives the changes other instances published. */
export type SessionChangeListener = (change: SessionChange) => void;

interface ListenConnection {
  client: PgPoolClient;
  /** Detaches this feed's handlers from the client. */
  stop(): void;
}

const RELISTEN_DELAY = 1000;

export class ChangeFeed {
  readonly #pool: StorePool;
  readonly #channel: string;
  readonly #watchers = new Set<{ listener: SessionChangeListener }>();
  #listening: Promise<ListenConnection> | null = null;
  /** The live LISTEN connection, once established. */
  #listener: ListenConnection | null = null;
  #relisten: NodeJS.Timeout | null = null;

  constructor(pool: StorePool, channel: string) {
    this.#pool = pool;
    this.#channel = channel;
  }

  /** See `PostgresStore.watch`. */
  async watch(listener: SessionChangeListener): Promise<() => Promise<void>> {
    if (this.#pool.closed) throw new StoreUnavailableError('the PostgreSQL session store is closed');
    const entry = { listener };
    this.#watchers.add(entry);
    try {
      await this.#listen();
    } catch (error) {
      this.#watchers.delete(entry);
      if (this.#watchers.size === 0) await this.#unlisten();
      throw translateError(error);
    }
    return async () => {
      this.#watchers.delete(entry);
      if (this.#watchers.size === 0) await this.#unlisten();
    };
  }

  /** Forgets every watcher and gives up the `LISTEN` connection. */
  async close(): Promise<void> {
    this.#watchers.clear();
    await this.#unlisten();
  }

  async #listen(): Promise<void> {
    if (this.#listening === null) {
      const listening = this.#connectListener();
      this.#listening = listening;
      listening.catch(() => {
        if (this.#listening === listening) this.#listening = null;
      });
    }
    await this.#listening;
  }

  async #connectListener(): Promise<ListenConnection> {
    const client = await this.#pool.connect();
    const onNotification = (message: PgNotification) => {
      if (message.channel !== this.#channel || message.payload === undefined) return;
      let change: SessionChange;
      try {
        change = JSON.parse(message.payload) as SessionChange;
      } catch {
        return;
      }
      for (const { listener } of [...this.#watchers]) {
        try {
          listener(change);
        } catch {
          // One failing listener must not starve the others.
        }
      }
    };
    const connection: ListenConnection = {
      client,
      stop: () => {
        client.removeListener('notification', onNotification);
        client.removeListener('error', onError);
      },
    };
    const onError = (error: Error) => {
      connection.stop();
      client.on('error', () => {});
      client.release(error);
      if (this.#listener === connection) {
        this.#listener = null;
        this.#listening = null;
        this.#scheduleRelisten();
      }
    };
    client.on('notification', onNotification);
    client.on('error', onError);
    try {
      await client.query({ text: `LISTEN ${quoteIdent(this.#channel)}`, query_timeout: this.#pool.queryTimeout });
    } catch (error) {
      connection.stop();
      client.release(error instanceof Error ? error : true);
      throw translateError(error);
    }
    this.#listener = connection;
    return connection;
  }

  #scheduleRelisten(): void {
    if (this.#pool.closed || this.#watchers.size === 0 || this.#relisten !== null) return;
    this.#relisten = setTimeout(() => {
      this.#relisten = null;
      if (this.#pool.closed || this.#watchers.size === 0) return;
      this.#listen().catch(() => this.#scheduleRelisten());
    }, RELISTEN_DELAY);
    this.#relisten.unref();
  }

  async #unlisten(): Promise<void> {
    if (this.#relisten !== null) clearTimeout(this.#relisten);
    this.#relisten = null;
    const listening = this.#listening;
    this.#listening = null;
    if (listening === null) return;
    const connection = await listening.catch(() => null);
    if (connection === null || this.#listener !== connection) return;
    this.#listener = null;
    connection.stop();
    // Destroyed rather than returned, so no pooled connection keeps listening.
    connection.client.release(true);
  }
}
