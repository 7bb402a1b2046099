// The machine's Redis (REDIS_URL, 127.0.0.1:6379 by default) for tests that need no server of their
// own: whether it answers, a plain client (as redis-cli would be), and cleanup of a test's prefix.
import { createClient } from 'redis';
import { requireServices } from './redis-servers.js';

export const localUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export type RawClient = ReturnType<typeof createClient>;

/** Null when Redis at `url` answers PING, else why not. */
export async function unreachable(url = localUrl): Promise<string | null> {
  const client = createClient({ url, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return `Redis at ${url} is unreachable (${(error as Error).message || String(error)})`;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** The `skip` option for a suite on the local Redis: the reason, unless services are required (then the suite runs and fails). */
export async function localSkip(what: string): Promise<string | false> {
  const reason = await unreachable();
  if (reason === null) return false;
  console.log(`${reason}${requireServices ? '' : `: skipping ${what}`}`);
  return requireServices ? false : reason;
}

/** A connected plain client, the way an operator's redis-cli reaches the keys. */
export async function rawClient(url = localUrl): Promise<RawClient> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Deletes every key under a prefix (SCAN is fine in tests, never in the store). */
export async function deleteByPrefix(client: RawClient, prefix: string): Promise<void> {
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await client.del(keys);
  }
}
