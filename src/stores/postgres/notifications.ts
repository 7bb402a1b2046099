/**
 * The store's one `LISTEN` connection, held out of the pool while anyone consumes it: `watch`
 * (revocations and rotations, published by the statements that remove sessions) and the
 * invalidation subscriptions (every changed session, published by a trigger; see invalidation.ts).
 * When it drops, every consumer is told at once and it is re-established by itself.
 */
import { StoreUnavailableError } from '../../store-kit/index.js';
import {
  isUnavailable,
  quoteIdent,
  translateError,
  type PgNotification,
  type PgPoolClient,
  type PgQueryConfig,
  type PgQueryResult,
} from './driver.js';
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

/** Someone who reads the `LISTEN` connection. */
export interface FeedConsumer {
  /** A notification on one of the feed's channels, in the order the server sent them. */
  notification(channel: string, payload: string): void;
  /** The connection was lost: nothing is delivered until it is back (then `probe` resolves again). */
  down(): void;
}

interface ListenConnection {
  client: PgPoolClient;
  /** Detaches this feed's handlers from the client. */
  stop(): void;
}

/** Between attempts to listen again while the server cannot be reached; the first attempt after a drop is at once. */
const RELISTEN_DELAY = 1000;

export class ChangeFeed {
  readonly #pool: StorePool;
  /** The `watch` channel. */
  readonly #channel: string;
  /** Every channel the connection listens to. */
  readonly #channels: readonly string[];
  readonly #consumers = new Set<FeedConsumer>();
  /** The live LISTEN connection, once established. */
  #connection: ListenConnection | null = null;
  #connecting: Promise<ListenConnection> | null = null;
  #relisten: NodeJS.Timeout | null = null;

  constructor(pool: StorePool, channel: string, otherChannels: readonly string[] = []) {
    this.#pool = pool;
    this.#channel = channel;
    this.#channels = [...new Set([channel, ...otherChannels])];
  }

  /** See `PostgresStore.watch`. */
  async watch(listener: SessionChangeListener): Promise<() => Promise<void>> {
    if (this.#pool.closed) throw new StoreUnavailableError('the PostgreSQL session store is closed');
    const consumer: FeedConsumer = {
      notification: (channel, payload) => {
        if (channel !== this.#channel) return;
        let change: SessionChange;
        try {
          change = JSON.parse(payload) as SessionChange;
        } catch {
          return;
        }
        listener(change);
      },
      down: () => {},
    };
    const remove = this.subscribe(consumer);
    try {
      await this.#open();
    } catch (error) {
      await remove();
      throw translateError(error);
    }
    return remove;
  }

  /**
   * Adds `consumer` and starts listening in the background (retried every second while it fails);
   * returns the function that removes it, giving up the connection when it was the last one.
   */
  subscribe(consumer: FeedConsumer): () => Promise<void> {
    this.#consumers.add(consumer);
    if (!this.#pool.closed) this.#open().catch(() => {});
    return async () => {
      if (!this.#consumers.delete(consumer)) return;
      if (this.#consumers.size === 0) await this.#unlisten();
    };
  }

  /**
   * Runs `statement` on the `LISTEN` connection: its answer comes after every notification the
   * server had queued for this connection before it. Rejects when not listening (connecting,
   * reconnecting, closed); a connection that fails or times out here is dropped, which tells every
   * consumer `down()` and listens again.
   */
  async probe(statement: PgQueryConfig): Promise<PgQueryResult> {
    const connection = this.#connection;
    if (connection === null) {
      throw new StoreUnavailableError(
        this.#pool.closed
          ? 'the PostgreSQL session store is closed'
          : 'the PostgreSQL session store is not listening yet (connecting or reconnecting)',
      );
    }
    try {
      return await connection.client.query({ ...statement, query_timeout: this.#pool.queryTimeout });
    } catch (error) {
      if (isUnavailable(error)) this.#lost(connection, error as Error);
      throw translateError(error);
    }
  }

  /** Forgets every consumer (none is called again) and gives up the `LISTEN` connection. */
  async close(): Promise<void> {
    this.#consumers.clear();
    await this.#unlisten();
  }

  /** The live connection, or the attempt under way, or a new one. */
  #open(): Promise<ListenConnection> {
    if (this.#connection !== null) return Promise.resolve(this.#connection);
    if (this.#connecting === null) {
      const connecting = this.#connect();
      this.#connecting = connecting;
      connecting.then(
        () => {
          if (this.#connecting === connecting) this.#connecting = null;
        },
        () => {
          if (this.#connecting !== connecting) return;
          this.#connecting = null;
          this.#scheduleRelisten(RELISTEN_DELAY);
        },
      );
    }
    return this.#connecting;
  }

  async #connect(): Promise<ListenConnection> {
    const client = await this.#pool.connect();
    const onNotification = (message: PgNotification) => {
      if (message.payload === undefined) return;
      for (const consumer of [...this.#consumers]) {
        try {
          consumer.notification(message.channel, message.payload);
        } catch {
          // One failing listener must not starve the others.
        }
      }
    };
    const onError = (error: Error) => this.#lost(connection, error);
    const connection: ListenConnection = {
      client,
      stop: () => {
        client.removeListener('notification', onNotification);
        client.removeListener('error', onError);
        // pg reports a dropped connection more than once (the server's message, then the end).
        client.on('error', () => {});
      },
    };
    client.on('notification', onNotification);
    client.on('error', onError);
    try {
      const text = this.#channels.map((channel) => `LISTEN ${quoteIdent(channel)}`).join('; ');
      await client.query({ text, query_timeout: this.#pool.queryTimeout });
    } catch (error) {
      connection.stop();
      client.release(error instanceof Error ? error : true);
      throw translateError(error);
    }
    if (this.#pool.closed || this.#consumers.size === 0) {
      connection.stop();
      client.release(true);
      throw new StoreUnavailableError('the PostgreSQL session store stopped listening');
    }
    this.#connection = connection;
    return connection;
  }

  /** The connection failed: every consumer hears `down()` before anything else happens, then it is replaced. */
  #lost(connection: ListenConnection, error: Error): void {
    if (this.#connection !== connection) return;
    this.#connection = null;
    connection.stop();
    connection.client.release(error);
    for (const consumer of [...this.#consumers]) {
      try {
        consumer.down();
      } catch {
        // As for notifications.
      }
    }
    this.#scheduleRelisten(0);
  }

  #scheduleRelisten(delay: number): void {
    if (this.#pool.closed || this.#consumers.size === 0 || this.#relisten !== null) return;
    this.#relisten = setTimeout(() => {
      this.#relisten = null;
      if (this.#pool.closed || this.#consumers.size === 0) return;
      // A failure schedules the next attempt (see `#open`).
      this.#open().catch(() => {});
    }, delay);
    this.#relisten.unref();
  }

  async #unlisten(): Promise<void> {
    if (this.#relisten !== null) clearTimeout(this.#relisten);
    this.#relisten = null;
    // An attempt under way gives its connection up by itself once it sees no consumer.
    await this.#connecting?.catch(() => null);
    const connection = this.#connection;
    if (connection === null || this.#consumers.size > 0) return;
    this.#connection = null;
    connection.stop();
    // Destroyed rather than returned, so no pooled connection keeps listening.
    connection.client.release(true);
  }
}
