/**
 * The Redis store's key names (docs/stores/redis.md describes each). Every key of a session carries
 * its shard, the id's first two characters, as the cluster hash tag `{shard}`, so that one script
 * reaches all of them; the Lua side derives the same names (`skey`, `rkey`, `ukey` in
 * scripts/fragments.ts).
 */
import { ID_SHARDS, SHARD_LENGTH, isSessionId } from '../../store-kit/index.js';
import { slotOf } from './slots.js';

/** The shards in the order of the ids they begin (JavaScript's, byte order for these characters). */
const SHARDS_IN_ID_ORDER: readonly string[] = Object.freeze([...ID_SHARDS].sort());

let shardSlotTable: Uint16Array | null = null;

/** The cluster slot of each of `RedisKeys.expiryIndexes`, computed once. */
export function expiryIndexSlots(): Uint16Array {
  shardSlotTable ??= Uint16Array.from(SHARDS_IN_ID_ORDER, (shard) => slotOf(shard));
  return shardSlotTable;
}

/** A subject index and its shard's expiry index; `legacy`: 0.1's (see "Partition key" in docs/stores/redis.md). */
export interface IndexPair {
  legacy: boolean;
  keys: [string, string];
}

export interface SubjectIndexes {
  /** In listing order: 0.1's (when apart), then the keyed one. */
  pairs: IndexPair[];
  /** Positions in `pairs` that one script takes together, in order. */
  groups: number[][];
}

export class RedisKeys {
  readonly #prefix: string;
  /** Every shard's expiry index, in the byte order of the shards (see QUERY): what the admin scripts walk. */
  readonly expiryIndexes: readonly string[];
  /** Where the partition key lives when the `partitionKey` option is not given. */
  readonly partitionKey: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
    this.expiryIndexes = SHARDS_IN_ID_ORDER.map((shard) => this.shardIndex(shard));
    this.partitionKey = `${prefix}partition-key`;
  }

  /** What every session hash's name starts with: the prefix the invalidation channel tracks. */
  get sessionPrefix(): string {
    return `${this.#prefix}s:`;
  }

  /** The session id whose hash `key` is, or null for any other key. */
  idOfSession(key: string): string | null {
    const start = this.#prefix.length + 3;
    if (!key.startsWith(this.sessionPrefix) || key[start - 1] !== '{' || key[start + SHARD_LENGTH] !== '}') return null;
    const id = key.slice(start, start + SHARD_LENGTH) + key.slice(start + SHARD_LENGTH + 1);
    return isSessionId(id) ? id : null;
  }

  /** A `countInWindow` counter: the window's length and number (windows since the epoch), then the caller's key. */
  windowCounter(key: string, windowMs: number, window: number): string {
    return `${this.#prefix}c:${windowMs}:${window}:${key}`;
  }

  session(id: string): string {
    return `${this.#prefix}s:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}`;
  }

  /** The expiry index that holds this id: its shard's. */
  expiryIndex(id: string): string {
    return this.shardIndex(id.slice(0, SHARD_LENGTH));
  }

  /** The expiry index of a shard's sessions. */
  shardIndex(shard: string): string {
    return `${this.#prefix}x:{${shard}}`;
  }

  /** A subject's index in a shard: the shard of the partition its sessions' ids start with. */
  subjectIndex(shard: string, subject: string): string {
    return `${this.#prefix}u:{${shard}}${subject}`;
  }

  /** An applied change set's idempotency key, in the session's slot: see `ApplyOptions.idempotency`. */
  idempotency(id: string, key: string): string {
    return `${this.#prefix}k:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}:${key}`;
  }

  /** What a login or rotation that replaced this session remembers of it: see `isSuperseded`. */
  superseded(id: string): string {
    return `${this.#prefix}r:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}`;
  }

  /** A shard's outbox: its notice ids by due time (`o`), their bodies (`b`), their ids by `at` (`a`). */
  outbox(shard: string): [string, string, string] {
    return [`${this.#prefix}o:{${shard}}`, `${this.#prefix}b:{${shard}}`, `${this.#prefix}a:{${shard}}`];
  }

  /**
   * A subject's indexes in listing order: the index of the sessions 0.1 issued under its unkeyed
   * partition (`legacy`, a shard), when that is in another shard, then the keyed one (`keyed`); and
   * which of them one script can take together: both on a single node or when they share a slot.
   */
  subjectIndexes(subject: string, keyed: string, legacy: string, cluster: boolean): SubjectIndexes {
    const pair: IndexPair = { legacy: false, keys: [this.subjectIndex(keyed, subject), this.shardIndex(keyed)] };
    if (legacy === keyed) return { pairs: [pair], groups: [[0]] };
    const pairs = [{ legacy: true, keys: [this.subjectIndex(legacy, subject), this.shardIndex(legacy)] } satisfies IndexPair, pair];
    return { pairs, groups: !cluster || slotOf(keyed) === slotOf(legacy) ? [[0, 1]] : [[0], [1]] };
  }
}

/** The keys of the pairs one script takes together. */
export function keysOf(indexes: SubjectIndexes, group: readonly number[]): string[] {
  return group.flatMap((i) => indexes.pairs[i]?.keys ?? []);
}
