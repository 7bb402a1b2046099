/**
 * The store as the manager calls it: every call goes to the app's store unchanged, and every call
 * that fails is reported once to `onStoreError`, with the operation, before the error goes on to
 * the caller. Failures that reach no request (the sweep, an undo after an unknown outcome, a
 * clean-up whose error is ignored) are reported like the rest.
 *
 * Every call is also published, as node-redis and undici publish theirs, on the `node:diagnostics_channel`
 * tracing channel `tessera:store` (events `tracing:tessera:store:start`, `:end`, `:asyncStart`,
 * `:asyncEnd`, `:error`) with the context {@link StoreCallContext}: the store's name and the
 * operation, never a token, a secret hash or a session id. Nothing is published, and nothing
 * allocated for it, while nobody subscribes.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { Clock } from './clock.js';
import { StoreUnavailableError, TesseraError } from './errors.js';
import { hasSessionOutbox, type NoticeRequest, type SessionOutbox } from './outbox.js';
import type {
  ApplyOptions,
  ApplyResult,
  ChangeSet,
  CreateOptions,
  CreateResult,
  LoadOptions,
  RemovedSession,
  SessionIndex,
  SessionPage,
  SessionQuery,
  SessionRecord,
  SessionStore,
  SharedCounters,
  StoreCapabilities,
  SubjectPartitions,
} from './store.js';

/** A store call the manager makes, as `onStoreError` names it. */
export type StoreOperation =
  | 'create'
  | 'load'
  | 'apply'
  | 'delete'
  | 'trimSubject'
  | 'isSuperseded'
  | 'deleteExpired'
  | 'listBySubject'
  | 'deleteBySubject'
  | 'query'
  | 'count'
  | 'subjectPartition'
  | 'countInWindow';

export type StoreErrorHandler = (error: unknown, context: { operation: StoreOperation }) => void | Promise<void>;

/** Between two lines of the default report: an outage fails every request, and a line for each would flood the log. */
const REPORT_INTERVAL_MS = 10_000;

/**
 * The default `onStoreError`: the first failure to console.error, then at most one line every ten
 * seconds while failures go on, saying how many were left out.
 */
export function logStoreErrors(clock: Clock): StoreErrorHandler {
  let quietUntil = Number.NEGATIVE_INFINITY;
  let leftOut = 0;
  return (error, { operation }) => {
    const now = clock.now();
    if (now < quietUntil) {
      leftOut++;
      return;
    }
    quietUntil = now + REPORT_INTERVAL_MS;
    const more = leftOut === 0 ? '' : ` (${leftOut} more store call(s) failed since the last report)`;
    leftOut = 0;
    console.error(`tessera: session store call ${operation} failed${more}`, error);
  };
}

/**
 * An outage, or anything a store did not mean to throw (a bug, a driver error it did not map).
 * Other tessera errors are answers, not failures: a malformed cursor a client sent is a 400.
 */
function isFailure(error: unknown): boolean {
  return error instanceof StoreUnavailableError || !(error instanceof TesseraError);
}

type Index = SessionStore & SessionIndex & SubjectPartitions & SharedCounters;

/** What the `tessera:store` tracing channel carries for one store call (`error` is set by the channel when it fails). */
export interface StoreCallContext {
  /** The store's name (`SessionStore.name`: `memory`, `sqlite`, `redis`, `postgres`), `custom` when it has none. */
  store: string;
  /** The call. */
  operation: StoreOperation;
  /** The manager's store object that made the call: tells one manager's calls from another's in the same process. */
  source: SessionStore;
  /** Set by the channel on the `error` event. */
  error?: unknown;
}

/** The tracing channel every store call of every manager is published on (see the module comment). */
export const STORE_CHANNEL = 'tessera:store';
const storeChannel = tracingChannel<unknown, StoreCallContext>(STORE_CHANNEL);

export class ReportingStore implements SessionStore, SessionIndex, SubjectPartitions, SharedCounters {
  readonly capabilities: StoreCapabilities;
  readonly name: string;
  readonly #store: Index;
  readonly #onStoreError: StoreErrorHandler;
  readonly #onHookError: (error: unknown) => void;

  /** `onHookError` gets what `onStoreError` throws: a failing hook never changes what the request sees. */
  constructor(store: SessionStore, onStoreError: StoreErrorHandler, onHookError: (error: unknown) => void) {
    // The index and partition methods are called only where `capabilities` says they exist. A
    // manager's `options.store` given to another manager is unwrapped: each failure is reported once.
    this.#store = (store instanceof ReportingStore ? store.#store : store) as Index;
    this.capabilities = store.capabilities;
    this.name = store.name ?? 'custom';
    this.#onStoreError = onStoreError;
    this.#onHookError = onHookError;
  }

  #report(operation: StoreOperation, error: unknown): void {
    if (!isFailure(error)) return;
    try {
      const result = this.#onStoreError(error, { operation });
      if (result instanceof Promise) result.catch(this.#onHookError);
    } catch (hookError) {
      this.#onHookError(hookError);
    }
  }

  /** The call's own promise when it succeeds; its error, reported, when it fails (thrown or rejected alike). */
  #call<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
    if (!storeChannel.hasSubscribers) return this.#reported(operation, call);
    const context: StoreCallContext = { store: this.name, operation, source: this };
    return storeChannel.tracePromise(() => this.#reported(operation, call), context);
  }

  #reported<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      // As `await` would: a thenable or plain value from a store written without async works as before.
      promise = Promise.resolve(call());
    } catch (error) {
      this.#report(operation, error);
      return Promise.reject(error);
    }
    return promise.then(undefined, (error: unknown) => {
      this.#report(operation, error);
      throw error;
    });
  }

  create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    return this.#call('create', () => this.#store.create(record, options));
  }
  load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    return this.#call('load', () => this.#store.load(id, options));
  }
  apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    return this.#call('apply', () => this.#store.apply(id, changes, options));
  }
  delete(id: string, options?: { notice?: NoticeRequest }): Promise<RemovedSession | null> {
    return this.#call('delete', () => this.#store.delete(id, options));
  }
  trimSubject(subject: string, options: Parameters<SessionStore['trimSubject']>[1]): Promise<RemovedSession[]> {
    return this.#call('trimSubject', () => this.#store.trimSubject(subject, options));
  }
  isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    return this.#call('isSuperseded', () => this.#store.isSuperseded(id, options));
  }
  deleteExpired(now: number, limit: number, options?: { notice?: boolean }): Promise<RemovedSession[]> {
    return this.#call('deleteExpired', () => this.#store.deleteExpired(now, limit, options));
  }
  /**
   * The store's own (a store without one is taken as ready). Not reported to `onStoreError`: the
   * app awaits it at start-up (`SessionManager.ready()`) and gets the error itself.
   */
  async ready(): Promise<void> {
    await this.#store.ready?.();
  }
  /** The store's own outbox, not reported here: its worker reports its own failures (`WebhookOptions.onError`). */
  get outbox(): SessionOutbox | null {
    return hasSessionOutbox(this.#store) ? this.#store.outbox : null;
  }
  /** The manager never closes the store (the app does); passed on for whoever holds `options.store`. */
  close(): Promise<void> {
    return this.#store.close();
  }
  listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    return this.#call('listBySubject', () => this.#store.listBySubject(subject, options));
  }
  deleteBySubject(subject: string, options: Parameters<SessionIndex['deleteBySubject']>[1]): Promise<RemovedSession[]> {
    return this.#call('deleteBySubject', () => this.#store.deleteBySubject(subject, options));
  }
  query(query: SessionQuery): Promise<SessionPage> {
    return this.#call('query', () => this.#store.query(query));
  }
  count(filter: { now: number; subject?: string }): Promise<number> {
    return this.#call('count', () => this.#store.count(filter));
  }
  subjectPartition(subject: string): Promise<string> {
    return this.#call('subjectPartition', () => this.#store.subjectPartition(subject));
  }
  countInWindow(key: string, options: { now: number; windowMs: number }): Promise<number> {
    return this.#call('countInWindow', () => this.#store.countInWindow(key, options));
  }
}
