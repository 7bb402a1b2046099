/** One node's part of a `query` without a subject or id: the QUERY script's walks of its expiry indexes. */
import type { SessionRecord } from '../../store-kit/index.js';
import { decodeHash } from './hash-codec.js';
import { asString, type Reply } from './reply.js';
import type { Script } from './scripts/index.js';
import type { RedisTransport, Target } from './transport.js';

/**
 * The first `wanted` live sessions of one node's shards past the cursor, in id order: QUERY
 * calls, each a bounded walk (see the script), until the page is full or the shards run out.
 */
export async function queryNode(
  transport: RedisTransport,
  query: Script,
  target: Target,
  now: number,
  cursor: string,
  displayNamePrefix: string | undefined,
  wanted: number,
): Promise<SessionRecord[]> {
  const records: SessionRecord[] = [];
  let indexes = target.indexes;
  while (indexes.length > 0 && records.length < wanted) {
    const reply = (await transport.runOn(target, query, [
      String(now),
      cursor,
      displayNamePrefix === undefined ? '0' : '1',
      displayNamePrefix ?? '',
      String(wanted - records.length),
      ...indexes,
    ])) as Reply[];
    const consumed = Number(reply[0]);
    if (!(consumed > 0)) throw new Error('the query script walked no index');
    for (let i = 1; i + 1 < reply.length; i += 2) records.push(decodeHash(asString(reply[i]), reply[i + 1]));
    indexes = indexes.slice(consumed);
  }
  return records;
}
