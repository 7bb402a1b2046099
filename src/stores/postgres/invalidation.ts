/**
 * `InvalidationSource` for PostgreSQL: the trigger of schema version 4 publishes the id of every
 * session row updated or deleted, by any client (see `invalidationSql`), on the table's own
 * channel; the store's `LISTEN` connection (`ChangeFeed`) hands them to the subscribers, leaving
 * out the ones this store object wrote itself.
 */
import { StoreUnavailableError, type InvalidationListener, type InvalidationSubscription } from '../../store-kit/index.js';
import { INVALIDATION_TRIGGERS, type ResolvedNames } from './migrations.js';
import type { ChangeFeed, FeedConsumer } from './notifications.js';

/** What the trigger sends (see `invalidationSql`). */
interface Payload {
  origin?: unknown;
  ids?: unknown;
  all?: unknown;
}

/**
 * Starts delivering the table's changes to `listener`, except those whose origin is `origin` (this
 * store object's writes, which the cache in front of it takes from their answers).
 */
export function subscribeInvalidations(
  feed: ChangeFeed,
  names: ResolvedNames,
  origin: string,
  listener: InvalidationListener,
): InvalidationSubscription {
  let closed = false;
  const consumer: FeedConsumer = {
    notification(channel, payload) {
      if (closed || channel !== names.invalidationChannel) return;
      const message = parse(payload);
      // Something on this table's channel that cannot be read may name any session.
      if (message === null || message.all === true) return listener.invalidateAll();
      if (message.origin === origin) return;
      listener.invalidate(message.ids as string[]);
    },
    down() {
      if (!closed) listener.down();
    },
  };
  const remove = feed.subscribe(consumer);
  // The triggers are checked on every probe: a table not yet migrated to version 4, or an
  // operator's `DISABLE TRIGGER`, publishes nothing, and a cache must not rely on it then.
  const check = {
    text: `SELECT tgname, tgenabled <> 'D' AS enabled FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = ANY($2::text[])`,
    values: [names.qualified, [...INVALIDATION_TRIGGERS]],
  };
  const [onUpdate] = INVALIDATION_TRIGGERS;
  // The update trigger is created disabled (see `invalidationSql`): NOTIFY serialises commits, and
  // nobody should pay for it before a cache needs it. A short lock timeout, since writers queue
  // behind the ALTER's lock while it waits for a long transaction.
  const enable = { text: `SET LOCAL lock_timeout = '100ms'; ALTER TABLE ${names.qualified} ENABLE TRIGGER ${onUpdate}` };
  let nextEnable = 0;
  return {
    async probe() {
      if (closed) throw new StoreUnavailableError('this invalidation subscription is closed');
      let rows = (await feed.probe(check)).rows as Array<{ tgname: string; enabled: boolean }>;
      const updates = rows.find((row) => row.tgname === onUpdate);
      if (rows.length === INVALIDATION_TRIGGERS.length && updates?.enabled === false && Date.now() >= nextEnable) {
        nextEnable = Date.now() + ENABLE_RETRY_MS;
        await feed.probe(enable).catch(() => {
          // A long transaction held the table: tried again at a later probe, the cache bypassed meanwhile.
        });
        rows = (await feed.probe(check)).rows as Array<{ tgname: string; enabled: boolean }>;
      }
      if (rows.length < INVALIDATION_TRIGGERS.length || rows.some((row) => !row.enabled)) {
        throw new StoreUnavailableError(
          `the invalidation triggers of ${names.qualified} are missing or disabled: bring its schema to version 4 or later (tessera migrate), and enable ${INVALIDATION_TRIGGERS.join(', ')}`,
        );
      }
    },
    async close() {
      closed = true;
      await remove();
    },
  };
}

/** How long after a failed attempt to enable the update trigger the next is made. */
const ENABLE_RETRY_MS = 10_000;

/** The payload, or null when it is not what the trigger sends. */
function parse(payload: string): Payload | null {
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    return null;
  }
  if (message === null || typeof message !== 'object') return null;
  const { all, ids } = message as Payload;
  if (all === true) return message as Payload;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) return null;
  return message as Payload;
}
