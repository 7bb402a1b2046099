/**
 * The key the Redis store derives subject partitions with (`keyedPartition` in the core): the
 * `partitionKey` option, or else one random key that the first instance to need it creates in
 * Redis and every instance sharing the prefix then reads and caches.
 */
import { randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../../store-kit/index.js';
import { asString } from './reply.js';

/** Bytes of a key this store creates; also the least it accepts. */
export const PARTITION_KEY_BYTES = 32;

/** How the key reaches Redis: `GET`, and `SET ... NX GET` (the value stored before, or null when this one was set). */
export interface PartitionKeyStorage {
  read(): Promise<string | null>;
  setIfAbsent(value: string): Promise<string | null>;
}

/** The `given` key, or else the one held in Redis as `name`, reached through `transport`. */
export function redisPartitionKey(
  given: Uint8Array | undefined,
  name: string,
  transport: { send(key: string, args: string[]): Promise<unknown> },
): PartitionKey {
  const text = (reply: unknown) => (reply == null ? null : asString(reply));
  const storage: PartitionKeyStorage = {
    read: () => transport.send(name, ['GET', name]).then(text),
    setIfAbsent: (value) => transport.send(name, ['SET', name, value, 'NX', 'GET']).then(text),
  };
  return new PartitionKey(given, storage, `the Redis key ${name}`);
}

export function assertPartitionKey(key: unknown): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length < PARTITION_KEY_BYTES) {
    const length = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new InvalidOptionError(`partitionKey must be a Uint8Array (or Buffer) of at least ${PARTITION_KEY_BYTES} bytes, got ${length}`);
  }
  return new Uint8Array(key);
}

function decode(stored: string, where: string): Uint8Array {
  const key = Buffer.from(stored, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(stored) || key.length < PARTITION_KEY_BYTES) {
    throw new Error(`${where} holds no partition key (base64 of ${PARTITION_KEY_BYTES} bytes or more); delete it and a new one is made`);
  }
  return new Uint8Array(key);
}

export class PartitionKey {
  readonly #given: boolean;
  readonly #storage: PartitionKeyStorage;
  readonly #where: string;
  #key: Uint8Array | null;
  #encoded: string | null = null;
  /** The first read from Redis, shared by the calls that wait for it. */
  #pending: Promise<Uint8Array> | null = null;

  constructor(given: Uint8Array | undefined, storage: PartitionKeyStorage, where: string) {
    this.#given = given !== undefined;
    this.#key = given ?? null;
    this.#storage = storage;
    this.#where = where;
  }

  /**
   * The key: given, cached, or read from Redis on first use, and created there when absent. A
   * plain `GET` first, because a full Redis (`noeviction`) refuses every `SET`, even one that
   * would write nothing, and listing or revoking by subject must go on then.
   */
  get(): Promise<Uint8Array> {
    if (this.#key !== null) return Promise.resolve(this.#key);
    this.#pending ??= this.#load().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /**
   * Puts the cached key back in Redis if it was deleted there, or adopts the one Redis holds if it
   * differs (another instance made a new one after a deletion): run by every sweep, so that
   * instances agree again by their next sweep. One `GET` when nothing changed; nothing to do for a
   * given key, or before first use.
   */
  async reassert(): Promise<void> {
    if (this.#given || this.#encoded === null) return;
    const stored = await this.#storage.read();
    if (stored === this.#encoded) return;
    if (stored !== null) this.#adopt(stored);
    else this.#adopt((await this.#storage.setIfAbsent(this.#encoded)) ?? this.#encoded);
  }

  async #load(): Promise<Uint8Array> {
    const stored = await this.#storage.read();
    if (stored !== null) return this.#adopt(stored);
    const created = randomBytes(PARTITION_KEY_BYTES).toString('base64');
    return this.#adopt((await this.#storage.setIfAbsent(created)) ?? created);
  }

  #adopt(encoded: string): Uint8Array {
    if (encoded !== this.#encoded || this.#key === null) {
      this.#key = decode(encoded, this.#where);
      this.#encoded = encoded;
    }
    return this.#key;
  }
}
