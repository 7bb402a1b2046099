/**
 * What a session accepts as keys and values, checked before anything is queued: a write the
 * store would refuse or mangle fails at once, in the request that made it.
 */
import { BadRequestError, SessionTooLargeError } from './errors.js';
import type { JsonValue } from './store.js';

const MAX_KEY_LENGTH = 128;

/** A lone surrogate: text that is not well-formed Unicode, which some stores refuse and others mangle. */
const LONE_SURROGATE = /\p{Cs}/u;

/** The caps on one session's data (see `SessionManagerOptions`). */
export interface SizeLimits {
  maxFields: number;
  maxValueBytes: number;
  maxSessionBytes: number;
}

/** A dictionary without a prototype, so keys like `__proto__` are plain data. */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Throws unless every string in `value` (keys included) is well-formed Unicode. */
function assertWellFormed(value: JsonValue): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new BadRequestError('session values must be well-formed Unicode (no lone surrogates)');
  } else if (Array.isArray(value)) for (const item of value) assertWellFormed(item);
  else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (LONE_SURROGATE.test(key)) throw new BadRequestError('session values must be well-formed Unicode (no lone surrogates)');
      assertWellFormed(value[key] as JsonValue);
    }
  }
}

/** The value as plain JSON data, and the byte length of its JSON text. */
export function toJson(value: unknown): { json: JsonValue; bytes: number } {
  const text = JSON.stringify(value);
  if (text === undefined) throw new BadRequestError('session values must be JSON-serializable');
  const json = JSON.parse(text) as JsonValue;
  assertWellFormed(json);
  return { json, bytes: Buffer.byteLength(text) };
}

function jsonBytes(value: JsonValue | undefined): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value));
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || LONE_SURROGATE.test(key)) {
    throw new BadRequestError(`session keys must be well-formed strings of 1 to ${MAX_KEY_LENGTH} characters`);
  }
}

export function assertText(name: string, value: string, max: number): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || LONE_SURROGATE.test(value)) {
    throw new BadRequestError(`${name} must be a well-formed string of 1 to ${max} characters`);
  }
}

/**
 * Refuses a write of `bytes` (JSON) under `key` that would take the session, as `view` shows
 * it, past `maxValueBytes`, `maxFields` or `maxSessionBytes`. A session already past a cap (a
 * lower cap configured later, or concurrent requests that each added fields) can still shrink
 * or change within its size.
 */
export function assertFits(view: Map<string, JsonValue>, key: string, bytes: number, limits: SizeLimits): void {
  const { maxFields, maxValueBytes, maxSessionBytes } = limits;
  const keyBytes = Buffer.byteLength(key);
  if (keyBytes + bytes > maxValueBytes)
    throw new SessionTooLargeError(
      `a session value may take ${maxValueBytes} bytes (as JSON, key included); this one takes ${keyBytes + bytes}`,
    );
  if (!view.has(key) && view.size >= maxFields) throw new SessionTooLargeError(`a session may hold ${maxFields} fields`);
  let total = 0;
  for (const [field, value] of view) total += Buffer.byteLength(field) + jsonBytes(value);
  const after = total - (view.has(key) ? keyBytes + jsonBytes(view.get(key)) : 0) + keyBytes + bytes;
  if (after > maxSessionBytes && after > total)
    throw new SessionTooLargeError(`a session may take ${maxSessionBytes} bytes (as JSON); this write would make it ${after}`);
}

/** Fields checked to be written together (a login's `data`): each value as JSON, with its byte length. */
export type CheckedFields = ReadonlyMap<string, { json: JsonValue; bytes: number }>;

/**
 * Fields given as one object (a login's `data`), checked as `set()` checks a value: keys, JSON
 * values, and the size caps as if the session held nothing else (the data they join is checked
 * when they are written over it, by `withFields`).
 */
export function checkFields(fields: unknown, limits: SizeLimits): CheckedFields {
  const prototype = typeof fields === 'object' && fields !== null ? Object.getPrototypeOf(fields) : undefined;
  // A Map or a class instance would pass as an object of no fields, and silently set nothing.
  if (prototype !== Object.prototype && prototype !== null) throw new BadRequestError('session data must be a plain object of fields');
  const checked = new Map<string, { json: JsonValue; bytes: number }>();
  for (const [key, value] of Object.entries(fields as object)) {
    assertKey(key);
    checked.set(key, toJson(value));
  }
  withFields(new Map(), checked, limits);
  return checked;
}

/** A copy of `base` with `fields` written over it, each checked by `assertFits` as `set()` would. */
export function withFields(base: ReadonlyMap<string, JsonValue>, fields: CheckedFields, limits: SizeLimits): Map<string, JsonValue> {
  const view = new Map(base);
  for (const [key, { json, bytes }] of fields) {
    assertFits(view, key, bytes, limits);
    view.set(key, json);
  }
  return view;
}
