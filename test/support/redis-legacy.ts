// A session as tessera 0.1 stored it, written key by key, for the tests of 0.1's sessions on one
// node and on a cluster (see "Partition key" in docs/stores/redis.md).
import { randomBytes } from 'node:crypto';
import { SHARD_LENGTH, hashSecret, unkeyedPartition } from '../../src/core/token.js';

/** The commands it takes, as a node-redis client or cluster client has them (a cluster routes each by its key). */
export interface LegacyWriter {
  hSet(key: string, value: Record<string, string>): Promise<unknown>;
  pExpire(key: string, ms: number): Promise<unknown>;
  zAdd(key: string, member: { score: number; value: string }): Promise<unknown>;
  exists(key: string): Promise<number>;
  incr(key: string): Promise<unknown>;
}

/**
 * Its id starts with `unkeyedPartition(subject)` and its subject index is `u:{<that shard>}<subject>`,
 * scored by expiresAt as 0.1 scored it; the hash fields are those of today's layout.
 */
export async function legacySession(
  client: LegacyWriter,
  prefix: string,
  subject: string,
  now: number,
  idleTimeout = 1800,
): Promise<{ id: string; token: string }> {
  const secret = randomBytes(32).toString('base64url');
  const id = unkeyedPartition(subject) + randomBytes(16).toString('base64url');
  const shard = id.slice(0, SHARD_LENGTH);
  const key = `${prefix}s:{${shard}}${id.slice(SHARD_LENGTH)}`;
  const expires = now + idleTimeout * 1000;
  await client.hSet(key, {
    sh: hashSecret(secret),
    ca: String(now),
    ls: String(now),
    it: String(idleTimeout),
    ax: String(now + 86_400_000),
    v: '1',
    cd: '203.0.113.7\nLegacy/0.1',
    sub: subject,
    'd:n': '41',
  });
  await client.pExpire(key, expires - now);
  const u = `${prefix}u:{${shard}}${subject}`;
  await client.zAdd(u, { score: expires, value: id });
  await client.pExpire(u, expires - now);
  await client.zAdd(`${prefix}x:{${shard}}`, { score: expires, value: id });
  if ((await client.exists(`${prefix}n`)) === 1) await client.incr(`${prefix}n`);
  return { id, token: `${id}.${secret}` };
}
