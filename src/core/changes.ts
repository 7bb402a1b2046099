/**
 * A request's writes on their way to the store: collected until they are sent, seen on top of
 * the stored data meanwhile, and sent as one change set (or, for increments the store cannot
 * add, as a compare-and-set).
 */
import type { ValueCodec } from './codec.js';
import type { ResolvedOptions } from './options.js';
import { integerOrZero } from './record-ops.js';
import type { ApplyOptions, ApplyResult, ChangeSet, DeviceInfo, JsonValue, SessionRecord } from './store.js';
import { dict } from './values.js';

const CAS_ATTEMPTS = 400;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Changes not yet stored. Each collection is made on its first entry: most requests make one
 * kind of change. A later change to a key replaces an earlier one, except that increments add up.
 */
export class PendingChanges {
  #set: Map<string, JsonValue> | null = null;
  #delete: Set<string> | null = null;
  #increment: Map<string, number> | null = null;
  #idleTimeout: number | null = null;

  get isEmpty(): boolean {
    return !this.#set?.size && !this.#delete?.size && !this.#increment?.size && this.#idleTimeout === null;
  }

  set(key: string, value: JsonValue): void {
    this.#delete?.delete(key);
    this.#increment?.delete(key);
    (this.#set ??= new Map()).set(key, value);
  }

  delete(key: string): void {
    this.#set?.delete(key);
    this.#increment?.delete(key);
    (this.#delete ??= new Set()).add(key);
  }

  /** After a set, the increment lands on the value set; after a delete, on 0. */
  increment(key: string, by: number): void {
    if (this.#set?.has(key)) this.#set.set(key, integerOrZero(this.#set.get(key)) + by);
    else if (this.#delete?.has(key)) {
      this.#delete.delete(key);
      (this.#set ??= new Map()).set(key, by);
    } else {
      const increments = (this.#increment ??= new Map());
      increments.set(key, (increments.get(key) ?? 0) + by);
    }
  }

  setIdleTimeout(seconds: number): void {
    this.#idleTimeout = seconds;
  }

  /** The idle timeout to store, or null when it does not change. */
  get idleTimeout(): number | null {
    return this.#idleTimeout;
  }

  /** `base` with these changes on top; `base` itself when there are none, so nothing is copied. */
  over(base: Map<string, JsonValue>): Map<string, JsonValue> {
    if (this.isEmpty) return base;
    const view = new Map(base);
    if (this.#delete !== null) for (const key of this.#delete) view.delete(key);
    if (this.#set !== null) for (const [key, value] of this.#set) view.set(key, value);
    if (this.#increment !== null) for (const [key, delta] of this.#increment) view.set(key, integerOrZero(view.get(key)) + delta);
    return view;
  }

  /**
   * The change set for session `id`, values encoded. When `codec` cannot add to stored values
   * (it is not additive) the increments are left out and returned apart, for a compare-and-set.
   */
  toChangeSet(
    id: string,
    codec: ValueCodec,
    now: number,
    device: DeviceInfo,
  ): { changes: ChangeSet; increments: Map<string, number> | null } {
    const changes: ChangeSet = {};
    if (this.#set !== null && this.#set.size > 0) {
      const set = dict<JsonValue>();
      for (const [field, value] of this.#set) set[field] = codec.encode(value, { sessionId: id, field });
      changes.set = set;
    }
    if (this.#delete !== null && this.#delete.size > 0) changes.delete = [...this.#delete];
    if (this.#idleTimeout !== null) {
      changes.idleTimeout = this.#idleTimeout;
      changes.lastSeenAt = now;
      changes.lastDevice = { ...device };
    }
    const increments = this.#increment !== null && this.#increment.size > 0 ? this.#increment : null;
    if (increments === null || !codec.additive) return { changes, increments };
    const increment = dict<number>();
    for (const [field, delta] of increments) increment[field] = delta;
    changes.increment = increment;
    return { changes, increments: null };
  }
}

/**
 * Decodes a record's data. With `known` (the same session's previous record and its decoded
 * data), a value whose stored form has not changed is reused rather than decoded again, which
 * spares a decryption per unchanged field when values are encrypted.
 */
export function decodeData(
  record: SessionRecord,
  codec: ValueCodec,
  known?: { record: SessionRecord; data: Map<string, JsonValue> },
): Map<string, JsonValue> {
  const data = new Map<string, JsonValue>();
  const reuse = known !== undefined && known.record.id === record.id && !codec.additive;
  const values = record.data;
  for (const field in values) {
    if (!Object.hasOwn(values, field)) continue;
    const stored = values[field] as JsonValue;
    if (reuse && typeof stored === 'string' && known.record.data[field] === stored && known.data.has(field)) {
      data.set(field, structuredClone(known.data.get(field) as JsonValue));
    } else data.set(field, codec.decode(stored, { sessionId: record.id, field }));
  }
  return data;
}

export function encodeData(data: Map<string, JsonValue>, sessionId: string, codec: ValueCodec): Record<string, JsonValue> {
  const encoded = dict<JsonValue>();
  for (const [field, value] of data) encoded[field] = codec.encode(value, { sessionId, field });
  return encoded;
}

/** One change set's write, as `storeChanges` makes it. */
export interface ChangeWrite {
  now: number;
  device: DeviceInfo;
  /** The change set's own idempotency key and how long the store keeps it, if the request has one. */
  idempotency: NonNullable<ApplyOptions['idempotency']> | null;
}

/**
 * Sends `pending` to the store as a change of `current`, whose decoded data is `decoded`. The
 * store's answer is returned as it is: the caller decides what `gone` and `conflict` mean.
 */
export function storeChanges(
  options: ResolvedOptions,
  current: SessionRecord,
  decoded: Map<string, JsonValue>,
  pending: PendingChanges,
  write: ChangeWrite,
): Promise<ApplyResult> {
  const { changes, increments } = pending.toChangeSet(current.id, options.codec, write.now, write.device);
  const extra: Pick<ApplyOptions, 'idempotency'> = write.idempotency === null ? {} : { idempotency: write.idempotency };
  if (increments === null) return options.store.apply(current.id, changes, { now: write.now, base: current, ...extra });
  return compareAndSet(options, current, decoded, changes, increments, write.now, extra);
}

/** Increments when values are opaque: read, add, write if the version has not moved; retry on conflict. */
async function compareAndSet(
  options: ResolvedOptions,
  current: SessionRecord,
  decoded: Map<string, JsonValue>,
  changes: ChangeSet,
  increments: Map<string, number>,
  now: number,
  extra: Pick<ApplyOptions, 'idempotency'>,
): Promise<ApplyResult> {
  const { codec, store } = options;
  let record = current;
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const set = Object.assign(dict<JsonValue>(), changes.set);
    for (const [field, delta] of increments) {
      const stored = record.data[field];
      // The first attempt works on the record the session already decoded.
      const value =
        stored === undefined
          ? 0
          : record === current
            ? integerOrZero(decoded.get(field))
            : integerOrZero(codec.decode(stored, { sessionId: record.id, field }));
      set[field] = codec.encode(value + delta, { sessionId: record.id, field });
    }
    const result = await store.apply(record.id, { ...changes, set }, { now, expectedVersion: record.version, base: record, ...extra });
    if (result.status !== 'conflict') return result;
    record = result.record;
    if (attempt > 2) await sleep(Math.random() * Math.min(50, 2 ** (attempt / 4)));
  }
  return { status: 'conflict', record };
}
