/** What the cache does to the records it holds: copies them, sizes them, orders them. */
import type { JsonValue, SessionRecord } from './store.js';

/**
 * Bytes counted for a record besides its strings and data: its objects, boxed numbers and map
 * entry. With strings at a byte a character (V8 keeps ASCII that way), the estimate is a little
 * above the heap bench/cache-heap.mjs measures when no two sessions share a User-Agent (about 890
 * bytes for its two-field sessions), and well above it when they do.
 */
const RECORD_OVERHEAD = 560;

export function estimateBytes(record: SessionRecord): number {
  let chars = record.id.length + record.secretHash.length + (record.previousSecretHash?.length ?? 0);
  chars += (record.subject?.length ?? 0) + (record.displayName?.length ?? 0);
  chars += (record.createdDevice.userAgent?.length ?? 0) + (record.createdDevice.ip?.length ?? 0);
  chars += (record.lastDevice.userAgent?.length ?? 0) + (record.lastDevice.ip?.length ?? 0);
  return RECORD_OVERHEAD + chars + 2 * JSON.stringify(record.data).length;
}

/**
 * The prototype of the data objects the cache makes: no `Object.prototype` in the chain, so a
 * field named `__proto__` or `constructor` is plain data, as with `Object.create(null)`; but
 * objects made from it stay in V8's fast mode, where `Object.create(null)` ones are dictionaries
 * (about 180 bytes more per session, measured by bench/cache-heap.mjs).
 */
const DATA_PROTOTYPE: object = Object.freeze(Object.create(null) as object);

function copyData(data: Record<string, JsonValue>): Record<string, JsonValue> {
  const copy = Object.create(DATA_PROTOTYPE) as Record<string, JsonValue>;
  for (const field in data) {
    const value = data[field] as JsonValue;
    copy[field] = value !== null && typeof value === 'object' ? structuredClone(value) : value;
  }
  return copy;
}

/**
 * A copy sharing nothing a caller could change with the entry: the app may change a value it got
 * from a session (`session.get('cart').push(item)`), and one request's change must never reach
 * another's. Primitive values, the usual case, are not copied; strings are immutable and shared.
 */
export function copyRecord(record: SessionRecord): SessionRecord {
  return { ...record, data: copyData(record.data), createdDevice: { ...record.createdDevice }, lastDevice: { ...record.lastDevice } };
}

/** Distinct device strings held once however many sessions share them; bounded, so a flood of made-up User-Agents only stops the sharing. */
const MAX_INTERNED = 4096;

export class StringPool {
  readonly #strings = new Map<string, string>();

  intern(value: string | null): string | null {
    if (value === null) return null;
    const held = this.#strings.get(value);
    if (held !== undefined) return held;
    if (this.#strings.size < MAX_INTERNED) this.#strings.set(value, value);
    return value;
  }
}

/**
 * The copy an entry holds: as `copyRecord`, with the device strings taken from `pool`, so that the
 * User-Agent every session of one browser build carries (about 110 characters) is held once.
 */
export function entryRecord(record: SessionRecord, pool: StringPool): SessionRecord {
  const created = { ip: pool.intern(record.createdDevice.ip), userAgent: pool.intern(record.createdDevice.userAgent) };
  const last = { ip: pool.intern(record.lastDevice.ip), userAgent: pool.intern(record.lastDevice.userAgent) };
  return { ...record, data: copyData(record.data), createdDevice: created, lastDevice: last };
}

/** Whether `candidate` is older than `held`: a slow answer must not replace a newer one. */
export function older(candidate: SessionRecord, held: SessionRecord): boolean {
  return candidate.version < held.version || (candidate.version === held.version && candidate.lastSeenAt < held.lastSeenAt);
}
