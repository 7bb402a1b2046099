/**
 * Login and rotation: a new record under a new token replaces the session in one store call, so
 * the old token dies at once (the session-fixation defence). Both retry the same way when another
 * request changed the session meanwhile; they differ only in what the new record keeps, which is
 * decided again on each attempt, against the session as that attempt found it.
 */
import { decodeData, encodeData } from './changes.js';
import type { SessionContext } from './context.js';
import { BadRequestError, SessionLimitError, StoreUnavailableError, UpdateConflictError } from './errors.js';
import { assertTimeout } from './options.js';
import { recordEvictions, noticeOption } from './notices.js';
import { newRecord, type NewRecordFields } from './record.js';
import { hasSubjectPartitions, type CreateResult, type JsonValue, type RemovedSession, type SessionRecord } from './store.js';
import { issueToken } from './token.js';
import { assertText, checkFields, withFields, type CheckedFields } from './values.js';

/** The longest subject (a user id) and display name a session takes. */
export const MAX_SUBJECT_LENGTH = 256;
const MAX_DISPLAY_NAME_LENGTH = 256;

/** How `Session.login` logs in; `T` is the session's data type. */
export interface LoginOptions<T extends object = Record<string, unknown>> {
  /** Shown in session lists and searchable by prefix. */
  displayName?: string | null;
  /** Idle timeout in seconds for this session, overriding the manager's. */
  idleTimeout?: number;
  /**
   * Whether the data of the session logged in carries over. Left out, it does when that session
   * was anonymous or already belonged to `subject` (a cart survives the login), and the session
   * starts empty when it belonged to another subject, so nothing of theirs reaches the new one.
   * `true` keeps the data in every case, `false` in none. Decided against the session as it is
   * when the login is stored: a field another request added meanwhile is kept or dropped with
   * the rest.
   * @default undefined (kept unless the session belonged to another subject)
   */
  keepData?: boolean;
  /**
   * Fields to set in the logged-in session, stored by the same atomic store call as the login, so
   * no request ever sees it logged in without them. Written over the data kept: a field named here
   * replaces a kept one, and the other kept fields stay. Checked as `set()` checks a value (keys,
   * JSON values, `maxFields`, `maxValueBytes`, and `maxSessionBytes` counted with the data kept);
   * a login they do not fit fails with `SessionTooLargeError` and changes nothing.
   * @default {} (no fields set)
   */
  data?: Readonly<string extends keyof T ? Record<string, unknown> : Partial<T>>;
}

/** Checks `login()`'s arguments before anything is sent (400 for a client's bad value); gives `options.data` checked. */
export function checkLogin(ctx: SessionContext, subject: string, options: LoginOptions<object>): CheckedFields {
  assertText('subject', subject, MAX_SUBJECT_LENGTH);
  if (options.displayName != null) assertText('displayName', options.displayName, MAX_DISPLAY_NAME_LENGTH);
  if (options.idleTimeout !== undefined) {
    assertTimeout('idleTimeout', options.idleTimeout);
    ctx.warnIdleTimeout(options.idleTimeout, "login()'s idleTimeout");
  }
  if (options.keepData !== undefined && typeof options.keepData !== 'boolean') throw new BadRequestError('keepData must be a boolean');
  return options.data === undefined ? new Map() : checkFields(options.data as Readonly<Record<string, unknown>>, ctx.options);
}

/** The session that replaced another: its record, the token that opens it, and its decoded data. */
export interface Replacement {
  record: SessionRecord;
  token: string;
  data: Map<string, JsonValue>;
  /** The id of the session replaced, or null when there was none stored. */
  previousId: string | null;
  /** When the new record was made. */
  at: number;
}

type PlannedFields = Pick<NewRecordFields, 'idleTimeout' | 'absoluteExpiresAt' | 'displayName' | 'authenticatedAt'>;

/** What a login and a rotation (and an adoption, see adopt.ts) differ in. */
export interface Plan {
  readonly subject: string | null;
  /** The new record's fields that follow from the session replaced (read again after a conflict; null: none stored). */
  fields(current: SessionRecord | null, now: number): PlannedFields;
  /** The new record's data, from the session replaced and its decoded data (read again after a conflict). */
  data(current: SessionRecord | null, stored: Map<string, JsonValue>): Map<string, JsonValue>;
  /** The session replaced ended meanwhile: a login goes on as a new session; a rotation has nothing left to rotate. */
  readonly whenEnded: 'start afresh' | 'stop';
}

/** Sessions ended per store call when a login trims its subject's oldest ones. */
const TRIM_BATCH = 500;
const REPLACE_ATTEMPTS = 8;

/**
 * Authenticates `current` (null: nothing stored yet) as `subject` under a new token, with its data
 * kept or not as `options.keepData` says and the checked fields `given` (`options.data`) written
 * over it; the absolute lifetime restarts. Throws `SessionLimitError` when the subject is at its
 * limit and `onLimit` is `'reject'`, and `SessionTooLargeError` when `given` does not fit.
 */
export async function replaceForLogin(
  ctx: SessionContext,
  current: SessionRecord | null,
  data: Map<string, JsonValue>,
  subject: string,
  options: Omit<LoginOptions, 'data'>,
  given: CheckedFields,
): Promise<Replacement> {
  const { idleTimeout, absoluteTimeout } = ctx.options;
  const fields = (replaced: SessionRecord | null, now: number): PlannedFields => ({
    idleTimeout: options.idleTimeout ?? replaced?.idleTimeout ?? idleTimeout,
    absoluteExpiresAt: now + absoluteTimeout * 1000,
    displayName: options.displayName ?? null,
    authenticatedAt: now,
  });
  const kept = (replaced: SessionRecord | null, stored: Map<string, JsonValue>): Map<string, JsonValue> => {
    // A session's subject changes only by a login, which gives it a new id: the record read on a
    // retry has the subject this login replaces, or is gone (and `stored` empty).
    const keep = options.keepData ?? (replaced?.subject == null || replaced.subject === subject);
    return withFields(keep ? stored : new Map(), given, ctx.options);
  };
  return (await replace(ctx, current, data, { subject, fields, data: kept, whenEnded: 'start afresh' })) as Replacement;
}

/** Issues a new token for `current`, which keeps everything else; null when it ended meanwhile. */
export function replaceForRotation(ctx: SessionContext, current: SessionRecord, data: Map<string, JsonValue>): Promise<Replacement | null> {
  const fields = (replaced: SessionRecord | null): PlannedFields => {
    // A rotation starts from a stored session and stops when it ends: there always is one here.
    const { idleTimeout, absoluteExpiresAt, displayName, authenticatedAt } = replaced as SessionRecord;
    return { idleTimeout, absoluteExpiresAt, displayName, authenticatedAt };
  };
  return replace(ctx, current, data, { subject: current.subject, fields, data: (_, stored) => stored, whenEnded: 'stop' });
}

/** Stores a new record under a new token in place of `current` (null: none), as `plan` says; null when `plan` stops. */
export async function replace(
  ctx: SessionContext,
  current: SessionRecord | null,
  data: Map<string, JsonValue>,
  plan: Plan,
): Promise<Replacement | null> {
  const { options, device, events } = ctx;
  const { store, clock, codec, maxSessionsPerSubject, onLimit } = options;
  const { subject } = plan;
  const partition = subject !== null && hasSubjectPartitions(store) ? await store.subjectPartition(subject) : null;
  const limited = subject !== null && Number.isFinite(maxSessionsPerSubject);
  for (let attempt = 0; attempt < REPLACE_ATTEMPTS; attempt++) {
    const now = clock.now();
    const next = plan.data(current, data);
    const issued = issueToken(partition);
    const record = newRecord({
      id: issued.id,
      secretHash: issued.secretHash,
      now,
      device,
      subject,
      ...plan.fields(current, now),
      createdAt: current?.createdAt ?? now,
      ...(current === null ? {} : { createdDevice: current.createdDevice }),
      data: encodeData(next, issued.id, codec),
    });
    let result: CreateResult;
    try {
      result = await store.create(record, {
        now,
        ...(current !== null
          ? { replaces: { id: current.id, version: current.version, supersededUntil: now + options.renewalGracePeriod * 1000 } }
          : {}),
        ...(limited && onLimit === 'reject' ? { limit: { max: maxSessionsPerSubject } } : {}),
      });
    } catch (error) {
      if (error instanceof StoreUnavailableError) undoUnknownCreate(ctx, record, current);
      throw error;
    }
    if (result.status === 'limit') throw new SessionLimitError(maxSessionsPerSubject);
    if (result.status === 'gone') {
      // Another request changed or ended the session since it was read: read it again.
      const previous: SessionRecord | null = current;
      current = previous === null ? null : await store.load(previous.id, { now, secretHash: previous.secretHash });
      if (current !== null) data = decodeData(current, codec);
      else if (plan.whenEnded === 'stop') return null;
      else data = new Map();
      continue;
    }
    // The new session is stored; only now may it end the subject's oldest sessions.
    recordEvictions(options, result.evicted, now);
    const evicted = limited && onLimit === 'evict-oldest' ? [...result.evicted, ...(await trim(ctx, record))] : result.evicted;
    for (const session of evicted) events.emit({ type: 'revoked', at: now, session, reason: 'evicted' });
    return { record, token: issued.token, data: next, previousId: current?.id ?? null, at: now };
  }
  throw new UpdateConflictError();
}

/**
 * Ends the subject's oldest sessions beyond `maxSessionsPerSubject`, keeping `record`. Best
 * effort: when the store fails here the login stands, and the limit is restored at the next one.
 */
async function trim(ctx: SessionContext, record: SessionRecord): Promise<RemovedSession[]> {
  const { store, clock, maxSessionsPerSubject, notifier } = ctx.options;
  const removed: RemovedSession[] = [];
  try {
    for (;;) {
      const now = clock.now();
      const batch = await store.trimSubject(record.subject as string, {
        now,
        max: maxSessionsPerSubject,
        keep: record.id,
        batch: TRIM_BATCH,
        ...noticeOption(notifier, 'evicted', now),
      });
      removed.push(...batch);
      if (batch.length < TRIM_BATCH) return removed;
    }
  } catch (error) {
    if (error instanceof StoreUnavailableError) return removed;
    throw error;
  }
}

/**
 * A create that the store did not confirm (it timed out) may still run. Its session's token
 * reaches nobody, so it is removed as soon as the store answers; and if it did run, the session
 * it replaced comes back, so that the user stays logged in with the token they still hold.
 */
function undoUnknownCreate(ctx: SessionContext, record: SessionRecord, replaced: SessionRecord | null): void {
  const { store, clock } = ctx.options;
  // A delete that timed out may still have run (right behind the create, on one connection), so
  // a later attempt that finds nothing to delete cannot tell whether the create ran; the
  // replaced session's tombstone can.
  let deleteMayHaveRun = false;
  ctx.compensate(
    async () => {
      const removed = await store.delete(record.id).catch((error: unknown) => {
        if (error instanceof StoreUnavailableError) deleteMayHaveRun = true;
        throw error;
      });
      if (replaced === null) return;
      const now = clock.now();
      const ran =
        removed !== null || (deleteMayHaveRun && (await store.isSuperseded(replaced.id, { now, secretHash: replaced.secretHash })));
      if (!ran) return;
      await store.create(replaced, { now }).catch((error: unknown) => {
        // Still there (the create never ran) or replaced again meanwhile: nothing to restore.
        if (error instanceof StoreUnavailableError) throw error;
      });
    },
    Math.max(record.expiresAt, replaced?.expiresAt ?? 0),
  );
}
