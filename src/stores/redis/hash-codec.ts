/**
 * A session record as its Redis hash, and back. One table, `FIELDS`, says which hash field holds
 * which record property and how, for both directions; docs/stores/redis.md shows a stored hash.
 */
import { expiresAt, recordInOrder, type DeviceInfo, type JsonValue, type SessionRecord } from '../../store-kit/index.js';
import { asString, type Reply } from './reply.js';

/** What the table stores: everything but the id (in the key), expiresAt (derived) and data (`d:` fields). */
type Stored = Omit<SessionRecord, 'id' | 'expiresAt' | 'data'>;

/** How a property's value is written as a hash value and read back. */
interface FieldType<T> {
  write(value: T): string;
  /** undefined: `text` holds no value of this type. */
  read(text: string): T | undefined;
}

const text: FieldType<string> = { write: (value) => value, read: (value) => value };

/** Lua writes numbers back with `%.17g` and JavaScript with `String`; `Number` reads both. */
const number: FieldType<number> = {
  write: (value) => String(value),
  read: (value) => {
    const n = Number(value);
    return value === '' || !Number.isFinite(n) ? undefined : n;
  },
};

/** A nullable value, null stored as the empty string. */
function orNull<T>(type: FieldType<T>): FieldType<T | null> {
  return { write: (value) => (value === null ? '' : type.write(value)), read: (value) => (value === '' ? null : type.read(value)) };
}

/**
 * `ip`, a line feed, then the user agent: six bytes shorter than JSON, which keeps a typical
 * session hash in a smaller allocation. A device that form cannot hold unambiguously (a null, an
 * IP with a line feed or starting like JSON) is the JSON array `[ip, userAgent]`; hashes written
 * before that form hold a JSON object.
 */
export function encodeDevice(device: DeviceInfo): string {
  const { ip, userAgent } = device;
  if (ip !== null && userAgent !== null && !ip.includes('\n') && ip[0] !== '[' && ip[0] !== '{') return `${ip}\n${userAgent}`;
  return JSON.stringify([ip, userAgent]);
}

const device: FieldType<DeviceInfo> = {
  write: encodeDevice,
  read: (value) => {
    if (value[0] !== '[' && value[0] !== '{') {
      const end = value.indexOf('\n');
      return end < 0 ? undefined : { ip: value.slice(0, end), userAgent: value.slice(end + 1) };
    }
    const parsed = JSON.parse(value) as unknown;
    if (Array.isArray(parsed)) {
      const [ip, userAgent] = parsed as [unknown, unknown];
      return { ip: typeof ip === 'string' ? ip : null, userAgent: typeof userAgent === 'string' ? userAgent : null };
    }
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const object = parsed as Partial<DeviceInfo>;
    return { ip: object.ip ?? null, userAgent: object.userAgent ?? null };
  },
};

interface HashField {
  readonly key: keyof Stored;
  readonly field: string;
  /** The stored text, or undefined to leave the field out: it reads back right without it. */
  encode(record: Stored): string | undefined;
  /** The property from the stored text, or from `earlier` (the properties before it) when absent. */
  decode(stored: string | undefined, earlier: Stored, id: string): Stored[keyof Stored];
}

/**
 * A property stored in `field`. With `absent`, the field may be missing: it then reads as
 * `absent(earlier properties)`, and it is left out whenever the record's value equals that (fewer
 * bytes in every session). Without, it is required.
 */
function field<K extends keyof Stored, T extends Stored[K]>(
  key: K,
  name: string,
  type: FieldType<T>,
  absent?: (earlier: Stored) => Stored[K],
): HashField {
  return {
    key,
    field: name,
    encode(record) {
      const value = record[key];
      if (absent !== undefined && same(type, value, absent(record))) return undefined;
      // A value that is not the absent one is of the field's type: a subject left out when null, say.
      return type.write(value as T);
    },
    decode(stored, earlier, id) {
      if (stored === undefined) {
        if (absent === undefined) throw corrupt(id, `has no "${name}" field (${key})`);
        return absent(earlier);
      }
      let value: T | undefined;
      try {
        value = type.read(stored);
      } catch (error) {
        throw corrupt(id, `holds ${JSON.stringify(stored)} in "${name}" (${key})`, error);
      }
      if (value === undefined) throw corrupt(id, `holds ${JSON.stringify(stored)} in "${name}" (${key})`);
      return value;
    },
  };
}

/** Equal values, and for a device the same stored text. */
function same<T>(type: FieldType<T>, a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && a !== null && b !== null && type.write(a as T) === type.write(b as T));
}

/**
 * Every reserved field, in the order a new hash is written (so `HGETALL` lists them so). Absent
 * values are read from properties earlier in the table.
 */
const FIELDS: readonly HashField[] = [
  field('secretHash', 'sh', text),
  field('createdAt', 'ca', number),
  field('lastSeenAt', 'ls', number),
  field('idleTimeout', 'it', number),
  field('absoluteExpiresAt', 'ax', number),
  field('version', 'v', number),
  field('createdDevice', 'cd', device),
  // Usually the creating device: stored only once it differs.
  field('lastDevice', 'ld', device, (r) => r.createdDevice),
  field('subject', 'sub', text, () => null),
  field('displayName', 'dn', text, () => null),
  // A session created logged in (the usual case) was authenticated when created; an anonymous one never.
  field('authenticatedAt', 'au', orNull(number), (r) => (r.subject === null ? null : r.createdAt)),
  field('renewedAt', 'rn', number, (r) => r.createdAt),
  field('previousSecretHash', 'ph', orNull(text), () => null),
  field('previousSecretExpiresAt', 'pe', orNull(number), () => null),
];

const BY_FIELD = new Map(FIELDS.map((entry, i) => [entry.field, i]));

/** Each data key `k` is the field `d:k`, holding the value's JSON: an integer's digits, so `HINCRBY` adds to it in place. */
const DATA = 'd:';

/** A corrupt hash fails the read that meets it, as unparsable data always did, rather than giving NaN or an empty secret. */
function corrupt(id: string, problem: string, cause?: unknown): TypeError {
  const message = `the Redis hash of session ${id} ${problem}: it was not written by this version of tessera, or was changed by hand`;
  return cause === undefined ? new TypeError(message) : new TypeError(message, { cause });
}

/** The new hash's field, value, ... list. */
export function encodeHash(record: SessionRecord): string[] {
  const out: string[] = [];
  for (const entry of FIELDS) {
    const stored = entry.encode(record);
    if (stored !== undefined) out.push(entry.field, stored);
  }
  for (const [key, value] of Object.entries(record.data)) out.push(DATA + key, JSON.stringify(value));
  return out;
}

/** A session hash, as a flat field, value, ... list (`HGETALL`, or a script's reply), as a record. */
export function decodeHash(id: string, flat: Reply): SessionRecord {
  const list = flat as Reply[];
  const data = Object.create(null) as Record<string, JsonValue>;
  const stored = new Array<string | undefined>(FIELDS.length);
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = asString(list[i]);
    const value = asString(list[i + 1]);
    if (name.startsWith(DATA)) {
      try {
        data[name.slice(DATA.length)] = JSON.parse(value) as JsonValue;
      } catch (error) {
        throw corrupt(id, `holds ${JSON.stringify(value)}, which is not JSON, in "${name}"`, error);
      }
      continue;
    }
    const at = BY_FIELD.get(name);
    // Fields this version does not know are left alone, as Redis keeps them.
    if (at !== undefined) stored[at] = value;
  }
  const record = { id } as Record<string, unknown>;
  for (let i = 0; i < FIELDS.length; i++) {
    const entry = FIELDS[i] as HashField;
    record[entry.key] = entry.decode(stored[i], record as unknown as Stored, id);
  }
  const r = record as unknown as SessionRecord;
  r.expiresAt = expiresAt(r.lastSeenAt, r.idleTimeout, r.absoluteExpiresAt);
  r.data = data;
  return recordInOrder(r);
}
