import * as crypto from 'node:crypto';
import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * A token is `<id>.<secret>`. The id is public (it names the session in lists and admin tools);
 * the secret is the credential and only its hash reaches the store: the first 128 bits of its
 * SHA-256 (see `STORED_HASH_BYTES`).
 *
 * The id is a 6-character partition key followed by 22 random characters. The partition is
 * random, except for a logged-in session on a store that keeps a subject's sessions together
 * (`SubjectPartitions`, Redis Cluster): there it is `keyedPartition(key, subject)`, an HMAC under
 * a key the deployment owns, so that an id cannot be tested against a guessed user id.
 * The partition's first two characters are its shard: the first takes all 64 base64url values,
 * the second only the first 16, so a store that keeps one index per shard has at most 1,024.
 */
/** Characters of an id's partition, the prefix a store may keep a subject's sessions together by. */
export const PARTITION_LENGTH = 6;
/** Characters of a partition's shard, its first two. */
export const SHARD_LENGTH = 2;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A partition from six bytes (random or a digest): 64 × 16 shards, then four more characters. */
function partitionFrom(bytes: Uint8Array): string {
  let partition = (ALPHABET[(bytes[0] as number) & 63] as string) + (ALPHABET[(bytes[1] as number) & 15] as string);
  for (let i = 2; i < PARTITION_LENGTH; i++) partition += ALPHABET[(bytes[i] as number) & 63] as string;
  return partition;
}

/** Every shard an issued id can start with (1,024), in a fixed order. */
export const ID_SHARDS: readonly string[] = Object.freeze(
  Array.from({ length: 64 * 16 }, (_, i) => (ALPHABET[i >> 4] as string) + (ALPHABET[i & 15] as string)),
);
export const SESSION_ID_LENGTH = 28;
/** Bytes of randomness in the secret: 256 bits. */
export const SECRET_BYTES = 32;
export const SECRET_LENGTH = 43;

/**
 * Bytes of the secret's SHA-256 that are stored and compared: 128 bits, 22 base64url characters.
 * Finding a secret for a stored hash then takes about 2^128 SHA-256 computations, the strength
 * the rest of the design aims at; the other half of the digest would only cost space in every
 * session of every store (on Redis it decides whether a session fits a smaller allocation).
 */
export const STORED_HASH_BYTES = 16;
/** Base64url characters wholly made of stored bits (21); the stored bits left over (2) lead the next one. */
const HASH_WHOLE_CHARS = Math.floor((STORED_HASH_BYTES * 8) / 6);
const HASH_SPARE_BITS = STORED_HASH_BYTES * 8 - HASH_WHOLE_CHARS * 6;
const HASH_LAST_CHAR_MASK = (0b111111 << (6 - HASH_SPARE_BITS)) & 0b111111;

/** One-shot `crypto.hash` (Node 20.12+) where there is one: it skips the Hash object, once per request. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;

const SESSION_ID = /^[A-Za-z0-9_-]{28}$/;
/** A partition's second character is one of the alphabet's first 16 (see `partitionFrom`). */
const PARTITION = /^[A-Za-z0-9_-][A-P][A-Za-z0-9_-]{4}$/;
const TOKEN = /^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/;

export interface ParsedToken {
  id: string;
  secret: string;
}

export interface IssuedToken {
  id: string;
  token: string;
  secretHash: string;
}

/** The partition of a subject's sessions under `key` (at least 32 bytes, secret to the deployment). */
export function keyedPartition(key: Uint8Array, subject: string): string {
  return partitionFrom(createHmac('sha256', key).update('tessera-partition\0').update(subject).digest());
}

/**
 * The partition tessera 0.1 derived from the subject alone (an unkeyed SHA-256), which anyone
 * could compute from a guessed user id. New ids never use it; a store that kept sessions by it
 * (Redis) still finds the sessions issued that way until they end.
 */
export function unkeyedPartition(subject: string): string {
  return partitionFrom(createHash('sha256').update('tessera-partition\0').update(subject).digest());
}

/** The partition an id starts with. */
export function partitionOfId(id: string): string {
  return id.slice(0, PARTITION_LENGTH);
}

/**
 * Whether `value` has the shape of a public session id (28 base64url characters), to refuse a
 * malformed id from a URL before any store call.
 */
export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}

/**
 * The hash a store keeps for a secret: the first `STORED_HASH_BYTES` of its SHA-256, base64url.
 * Computed as text, with no Buffer in between (it runs on every request): the 16 bytes are 21
 * characters and 2 bits, and the whole digest's 22nd character holds those 2 bits and 4 of the
 * next byte, which the stored form has as zeros (see `HASH_LAST_CHAR_MASK`).
 */
export function hashSecret(secret: string): string {
  const whole = oneShot !== undefined ? oneShot('sha256', secret, 'base64url') : createHash('sha256').update(secret).digest('base64url');
  return whole.slice(0, HASH_WHOLE_CHARS) + (ALPHABET[ALPHABET.indexOf(whole[HASH_WHOLE_CHARS] as string) & HASH_LAST_CHAR_MASK] as string);
}

/** A fresh token whose id starts with `partition` (see `keyedPartition`), or a random one when null. */
export function issueToken(partition: string | null = null): IssuedToken {
  if (partition !== null && !PARTITION.test(partition)) throw new TypeError('a partition is 6 base64url characters from partitionFrom');
  const bytes = randomBytes(SECRET_BYTES + 16 + PARTITION_LENGTH);
  partition ??= partitionFrom(bytes.subarray(48));
  const id = partition + bytes.subarray(32, 48).toString('base64url');
  const secret = bytes.subarray(0, SECRET_BYTES).toString('base64url');
  return { id, token: `${id}.${secret}`, secretHash: hashSecret(secret) };
}

/**
 * A fresh secret for the session `id`, which keeps its id: what a renewal issues. Throws
 * `TypeError` for anything that is not a session id.
 */
export function renewToken(id: string): IssuedToken {
  if (!SESSION_ID.test(id)) throw new TypeError('a session id is 28 base64url characters');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, token: `${id}.${secret}`, secretHash: hashSecret(secret) };
}

/** Splits a token, or returns null for anything that is not exactly a well-formed token. */
export function parseToken(value: string): ParsedToken | null {
  if (value.length !== SESSION_ID_LENGTH + 1 + SECRET_LENGTH || !TOKEN.test(value)) return null;
  return { id: value.slice(0, SESSION_ID_LENGTH), secret: value.slice(SESSION_ID_LENGTH + 1) };
}
