/**
 * What a session accepts as keys and values, checked before anything is queued: a write the
 * store would refuse or mangle fails at once, in the request that made it.
 */
import { BadRequestError, InvalidValueError, SessionTooLargeError } from './errors.js';
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

/** Containers nested deeper than this are refused: no session needs them, and a deep enough value overflows the stack. */
const MAX_DEPTH = 100;

/** What a value that is not JSON is, and how to store it instead; null for JSON. */
function notJson(value: unknown, atRoot: boolean): string | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `is ${String(value)}, which is not JSON (JSON numbers are finite)`;
    case 'undefined':
      return `is undefined, which is not JSON (${atRoot ? 'to remove a key, use delete' : 'leave it out, or use null'})`;
    case 'function':
      return 'is a function, which is not JSON';
    case 'bigint':
      return 'is a BigInt, which is not JSON (store it as a string)';
    case 'symbol':
      return 'is a symbol, which is not JSON';
  }
  if (value === null || Array.isArray(value)) return null;
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === Object.prototype || prototype === null) {
    return Object.getOwnPropertySymbols(value).length > 0 ? 'has a symbol key, which is not JSON' : null;
  }
  // JSON.stringify would quietly turn these into something else: a string, `{}`, or their fields.
  if (value instanceof Date) return 'is a Date, which is not JSON (store its toISOString() or getTime())';
  if (value instanceof Map) return 'is a Map, which is not JSON (store Object.fromEntries(map))';
  if (value instanceof Set) return 'is a Set, which is not JSON (store [...set])';
  const name = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof name === 'string' && name !== '' ? `a ${name} instance` : 'an object with a prototype';
  return `is ${what}, which is not JSON (store a plain object)`;
}

function pathOf(segments: ReadonlyArray<string | number>, length = segments.length): string {
  let path = 'value';
  for (let i = 0; i < length; i++) {
    const segment = segments[i] as string | number;
    path +=
      typeof segment === 'number' ? `[${segment}]` : /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/**
 * Throws unless `value` is JSON that comes back as it went in: `InvalidValueError` naming the key
 * and where the problem is for anything JSON would drop or change (a programming error), and
 * `BadRequestError` for text that is not well-formed Unicode (which a client can send).
 */
function assertJson(key: string, value: unknown, segments: Array<string | number>, ancestors: Map<object, number>): void {
  const problem = notJson(value, segments.length === 0);
  if (problem !== null) throw new InvalidValueError(key, pathOf(segments), problem);
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new BadRequestError('session values must be well-formed Unicode (no lone surrogates)');
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const seenAt = ancestors.get(value);
  if (seenAt !== undefined) {
    throw new InvalidValueError(key, pathOf(segments), `refers back to ${pathOf(segments, seenAt)}, which is not JSON (a cycle)`);
  }
  if (ancestors.size >= MAX_DEPTH) throw new SessionTooLargeError(`a session value may nest ${MAX_DEPTH} arrays or objects deep`);
  ancestors.set(value, segments.length);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      segments.push(i);
      // A hole reads as undefined, which JSON writes as null.
      assertJson(key, value[i], segments, ancestors);
      segments.pop();
    }
  } else {
    for (const field of Object.keys(value)) {
      if (LONE_SURROGATE.test(field)) throw new BadRequestError('session values must be well-formed Unicode (no lone surrogates)');
      segments.push(field);
      assertJson(key, (value as Record<string, unknown>)[field], segments, ancestors);
      segments.pop();
    }
  }
  ancestors.delete(value);
}

/** The value under `key` as plain JSON data (a copy), and the byte length of its JSON text. */
export function toJson(key: string, value: unknown): { json: JsonValue; bytes: number } {
  assertJson(key, value, [], new Map());
  const text = JSON.stringify(value);
  return { json: JSON.parse(text) as JsonValue, bytes: Buffer.byteLength(text) };
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
    checked.set(key, toJson(key, value));
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
