import {
  InvalidOptionError,
  StoreUnavailableError,
  type CodecContext,
  type JsonValue,
  type SessionRecord,
  type SessionStore,
  type ValueCodec,
} from '../core/index.js';
import { expiresAt } from '../core/expiry.js';
import { issueToken } from '../core/token.js';
import { newRecord } from '../core/record.js';

/**
 * A record as the core would create it, with overridable fields, and the token that opens it: apart,
 * because a store is given the record alone and must never see the token. `partition` starts its
 * id; a store with `SubjectPartitions` needs `subjectPartition(subject)` there for a logged-in record.
 */
export function makeRecord(
  now: number,
  overrides: Partial<SessionRecord> = {},
  partition: string | null = null,
): {
  /** What a store is given. */
  record: SessionRecord;
  /** The `<id>.<secret>` token that opens it. */
  token: string;
} {
  const subject = overrides.subject ?? null;
  const issued = issueToken(partition);
  const idleTimeout = overrides.idleTimeout ?? 1800;
  const lastSeenAt = overrides.lastSeenAt ?? now;
  const absoluteExpiresAt = overrides.absoluteExpiresAt ?? now + 86_400_000;
  const record: SessionRecord = {
    ...newRecord({
      id: issued.id,
      secretHash: issued.secretHash,
      now,
      idleTimeout,
      absoluteExpiresAt,
      device: { ip: '127.0.0.1', userAgent: 'conformance' },
      subject,
      authenticatedAt: subject === null ? null : now,
    }),
    lastSeenAt,
    ...overrides,
  };
  record.expiresAt = overrides.expiresAt ?? expiresAt(record.lastSeenAt, record.idleTimeout, record.absoluteExpiresAt);
  return { record, token: issued.token };
}

/**
 * A codec whose stored values are opaque, bound to their session and field, and not additive:
 * it drives the compare-and-set path that an encrypting codec uses, without any cryptography.
 */
export const opaqueTestCodec: ValueCodec = Object.freeze({
  additive: false,
  encode(value: JsonValue, context: CodecContext): JsonValue {
    return `opaque:${Buffer.from(JSON.stringify([context.sessionId, context.field, value])).toString('base64')}`;
  },
  decode(stored: JsonValue, context: CodecContext): JsonValue {
    if (typeof stored !== 'string' || !stored.startsWith('opaque:')) throw new InvalidOptionError('not an opaque value');
    const [sessionId, field, value] = JSON.parse(Buffer.from(stored.slice(7), 'base64').toString()) as [string, string, JsonValue];
    if (sessionId !== context.sessionId || field !== context.field) throw new InvalidOptionError('opaque value bound elsewhere');
    return value;
  },
});

/** A store method `countingStore` counts and `lostReplyStore` can lose the reply of. */
export type StoreOperation =
  | 'create'
  | 'load'
  | 'apply'
  | 'delete'
  | 'isSuperseded'
  | 'deleteExpired'
  | 'listBySubject'
  | 'deleteBySubject'
  | 'query'
  | 'count'
  | 'subjectPartition';

/** Wraps a store and counts the calls of each operation, to measure store work per request. */
export function countingStore<S extends SessionStore>(
  store: S,
): {
  /** The store to use: every call goes through to `store` and is counted. */
  store: S;
  /** Calls so far, by operation. */
  counts: Map<StoreOperation, number>;
  /** Calls so far, all operations together. */
  total(): number;
  /** Starts counting from zero. */
  reset(): void;
} {
  const counts = new Map<StoreOperation, number>();
  const proxy = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'close') return value.bind(target);
      return (...args: unknown[]) => {
        counts.set(property as StoreOperation, (counts.get(property as StoreOperation) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store: proxy,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
  };
}

/** Wraps a store so that every operation throws `StoreUnavailableError` while `failing()` is true. */
export function faultyStore<S extends SessionStore>(store: S, failing: () => boolean, retryAfter = 1): S {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return async (...args: unknown[]) => {
        if (failing()) throw new StoreUnavailableError('store down', { retryAfter });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * Wraps a store so that the calls of `operation` for which `lose()` is true reach the store and
 * run, but their answer is lost: the caller gets `StoreUnavailableError`, as when a store times
 * out on the client and still runs the command (a paused Redis, a dropped connection).
 */
export function lostReplyStore<S extends SessionStore>(store: S, operation: StoreOperation, lose: () => boolean): S {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function' || property !== operation)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (lose()) throw new StoreUnavailableError('the answer was lost (timed out)');
        return result;
      };
    },
  });
}
