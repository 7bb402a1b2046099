// Type-level tests of the public API, as an app imports it (by the package's names). Nothing here
// runs: `npm run typecheck` (so `npm test`, through `pretest`) compiles it, and a failed
// expectation or an unused `@ts-expect-error` fails the type check. A change that makes one of
// these fail changes what apps or custom stores compile against: say so in CHANGELOG.md.
import { expectTypeOf } from 'expect-type';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import {
  ManualClock,
  SessionManager,
  errorResponse,
  hasSessionIndex,
  type ErrorCode,
  type EventOf,
  type JsonValue,
  type LoginOptions,
  type RemovedSession,
  type SessionEvent,
  type SessionEventType,
  type SessionIndex,
  type SessionInfo,
  type SessionManagerOptions,
  type SessionRecord,
  type SessionStore,
  type Session,
  type StoreUnavailableError,
  type TesseraError,
} from 'tessera-session';
import { errorHandler, requireAuth, session, type ExpressSessionOptions, type SessionProperty } from 'tessera-session/adapters/express';
import { loadSession } from 'tessera-session/adapters/node';
import { MemoryStore } from 'tessera-session/stores/memory';
import type { PostgresStore } from 'tessera-session/stores/postgres';
import type { RedisStore, RedisStoreOptions } from 'tessera-session/stores/redis';
import { SqliteStore, type SqliteDatabase, type SqliteStoreOptions } from 'tessera-session/stores/sqlite';
import type { ApplyResult, ChangeSet, CreateResult } from 'tessera-session/store-kit';
import { ManualClock as TestingClock, loginCookie, runStoreConformance, type ConformanceOptions } from 'tessera-session/testing';

declare const manager: SessionManager;
declare const s: Session;
declare const store: SessionStore;
declare const db: SqliteDatabase;

// --- SessionManager options -------------------------------------------------------------------

// Only the store is required.
expectTypeOf<{ store: MemoryStore }>().toExtend<SessionManagerOptions>();
expectTypeOf<SessionManagerOptions['store']>().toEqualTypeOf<SessionStore>();
expectTypeOf<SessionManagerOptions['onLimit']>().toEqualTypeOf<'evict-oldest' | 'reject' | undefined>();
expectTypeOf<SessionManagerOptions['bruteForceAction']>().toEqualTypeOf<'detect' | 'block' | undefined>();
expectTypeOf<SessionManagerOptions['cleanupInterval']>().toEqualTypeOf<number | false | undefined>();
expectTypeOf<SessionManagerOptions['renewalInterval']>().toEqualTypeOf<number | false | undefined>();
expectTypeOf<SessionManagerOptions['anonymousSessionLimit']>().toEqualTypeOf<number | false | undefined>();
expectTypeOf<NonNullable<SessionManagerOptions['cookie']>>().toEqualTypeOf<{
  name?: string;
  secure?: 'auto' | boolean;
  sameSite?: 'lax' | 'strict';
}>();
expectTypeOf(new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), idleTimeout: 600 })).toEqualTypeOf<SessionManager>();

// @ts-expect-error: a manager needs a store
new SessionManager({ idleTimeout: 600 });
// @ts-expect-error: timeouts are seconds as numbers, not strings
new SessionManager({ store: new MemoryStore(), idleTimeout: '30m' });
// @ts-expect-error: onLimit is 'evict-oldest' or 'reject'
new SessionManager({ store: new MemoryStore(), onLimit: 'drop-newest' });
// @ts-expect-error: an unknown option is refused (a misspelt one does nothing silently otherwise)
new SessionManager({ store: new MemoryStore(), idleTimout: 600 });

// --- Session ------------------------------------------------------------------------------------

expectTypeOf(s.get('cart')).toEqualTypeOf<JsonValue | undefined>();
expectTypeOf(s.has('cart')).toEqualTypeOf<boolean>();
expectTypeOf(s.data()).toEqualTypeOf<Record<string, JsonValue>>();
expectTypeOf(s.set('cart', { items: [1, 2] })).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.delete('cart')).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.increment('views')).toEqualTypeOf<Promise<number>>();
expectTypeOf(s.increment('views', 5)).toEqualTypeOf<Promise<number>>();
expectTypeOf(s.id).toEqualTypeOf<string | null>();
expectTypeOf(s.subject).toEqualTypeOf<string | null>();
expectTypeOf(s.displayName).toEqualTypeOf<string | null>();
expectTypeOf(s.isAuthenticated).toEqualTypeOf<boolean>();
expectTypeOf(s.info).toEqualTypeOf<SessionInfo | null>();
expectTypeOf(s.login).parameters.toEqualTypeOf<[subject: string, options?: LoginOptions]>();
expectTypeOf(s.login('user-1', { displayName: 'Alice', idleTimeout: 600 })).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.login('user-1', { keepData: true, data: { roles: ['admin'], email: 'a@example.com' } })).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.logout()).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.rotate()).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.save()).toEqualTypeOf<Promise<void>>();
expectTypeOf(s.listSessions()).resolves.toEqualTypeOf<{ sessions: Array<SessionInfo & { current: boolean }>; nextCursor: string | null }>();
expectTypeOf(s.listSessions({ cursor: null, limit: 20 })).resolves.toHaveProperty('nextCursor');
expectTypeOf(s.revokeOtherSessions()).toEqualTypeOf<Promise<number>>();
expectTypeOf(s.revokeSession('id')).toEqualTypeOf<Promise<boolean>>();

// @ts-expect-error: increment adds a number
void s.increment('views', '1');
// @ts-expect-error: keys are strings
void s.set(1, 'x');
// @ts-expect-error: a subject is a string (store the user's id as text)
void s.login(42);
// @ts-expect-error: keepData is a boolean
void s.login('user-1', { keepData: 'yes' });
// @ts-expect-error: what get returns must be narrowed before use as a number
const views: number = s.get('views');
void views;

// --- Manager calls and events ------------------------------------------------------------------

expectTypeOf(manager.load).returns.resolves.toEqualTypeOf<Session>();
expectTypeOf(manager.count()).toEqualTypeOf<Promise<number>>();
expectTypeOf(manager.revoke('id')).toEqualTypeOf<Promise<boolean>>();
expectTypeOf(manager.revokeAll('user-1', { except: null, reason: 'admin' })).toEqualTypeOf<Promise<number>>();
expectTypeOf(manager.get('id')).toEqualTypeOf<Promise<SessionInfo | null>>();
expectTypeOf(manager.close()).toEqualTypeOf<void>();

expectTypeOf<SessionEventType>().toEqualTypeOf<
  'created' | 'loggedIn' | 'rotated' | 'revoked' | 'expired' | 'unreadable' | 'bruteForce' | 'webhook' | 'outboxFull'
>();
expectTypeOf<EventOf<'revoked'>['reason']>().toEqualTypeOf<'logout' | 'user' | 'admin' | 'evicted'>();

const unsubscribe = manager.on('expired', (event) => {
  expectTypeOf(event).toEqualTypeOf<EventOf<'expired'>>();
  expectTypeOf(event.session).toEqualTypeOf<RemovedSession>();
  expectTypeOf(event.at).toEqualTypeOf<number>();
});
expectTypeOf(unsubscribe).toEqualTypeOf<() => void>();
manager.on('loggedIn', (event) => {
  expectTypeOf(event.session).toEqualTypeOf<SessionInfo>();
  expectTypeOf(event.previousId).toEqualTypeOf<string | null>();
});
manager.on('bruteForce', async (event) => {
  expectTypeOf(event.ip).toEqualTypeOf<string>();
  expectTypeOf(event.attempts).toEqualTypeOf<number>();
});
manager.subscribe((event) => {
  expectTypeOf(event).toEqualTypeOf<SessionEvent>();
  if (event.type === 'rotated') expectTypeOf(event.previousId).toEqualTypeOf<string>();
});

// @ts-expect-error: no such event
manager.on('deleted', () => {});
// @ts-expect-error: an expired event has no ip (only bruteForce has)
manager.on('expired', (event) => event.ip);

// --- Errors ------------------------------------------------------------------------------------

expectTypeOf(errorResponse(new Error('x')).body.error.code).toEqualTypeOf<ErrorCode>();
expectTypeOf<TesseraError['status']>().toEqualTypeOf<number>();

// --- Express: req.session through the adapter's augmentation -----------------------------------

expectTypeOf<Request['session']>().toEqualTypeOf<Session>();
expectTypeOf<Request['sessions']>().toEqualTypeOf<SessionManager>();
expectTypeOf(session(manager)).toEqualTypeOf<RequestHandler>();
expectTypeOf(errorHandler()).toEqualTypeOf<ErrorRequestHandler>();
const handler: RequestHandler = async (req, res) => {
  expectTypeOf(await req.session.increment('items')).toEqualTypeOf<number>();
  res.json({ subject: req.session.subject });
};
void handler;

// @ts-expect-error: the middleware takes the manager, not a store
session(new MemoryStore());

// Another property (beside express-session) is declared first: test/types/express-property/ is such an app.
expectTypeOf<SessionProperty>().toEqualTypeOf<'session'>();
expectTypeOf<ExpressSessionOptions['property']>().toEqualTypeOf<'session' | undefined>();
expectTypeOf(session(manager, { property: 'session' })).toEqualTypeOf<RequestHandler>();
// @ts-expect-error: req.tessera is not declared, so session() cannot be told to fill it
session(manager, { property: 'tessera' });

// The route guard is a middleware; the handlers after it still see subject: string | null.
expectTypeOf(requireAuth()).toEqualTypeOf<RequestHandler>();

// --- node:http adapter ----------------------------------------------------------------------------

expectTypeOf(loadSession).returns.resolves.toEqualTypeOf<Session>();
expectTypeOf(loadSession).parameter(3).toExtend<{ trustProxy?: boolean | number } | undefined>();

// --- Stores and the store contract -------------------------------------------------------------

expectTypeOf<MemoryStore>().toExtend<SessionStore & SessionIndex>();
expectTypeOf<SqliteStore>().toExtend<SessionStore & SessionIndex>();
expectTypeOf<PostgresStore>().toExtend<SessionStore & SessionIndex>();
expectTypeOf<RedisStore>().toExtend<SessionStore & SessionIndex>();
expectTypeOf<{ path: string }>().toExtend<SqliteStoreOptions>();
// ready() is optional in the contract (a store written before it still fits) and each store here has it.
expectTypeOf<SessionStore['ready']>().toEqualTypeOf<(() => Promise<void>) | undefined>();
expectTypeOf<RedisStore['ready']>().toEqualTypeOf<() => Promise<void>>();
expectTypeOf<SessionManager['ready']>().toEqualTypeOf<() => Promise<void>>();
expectTypeOf<RedisStoreOptions['onError']>().toEqualTypeOf<((error: StoreUnavailableError) => void) | undefined>();
// @ts-expect-error: ioredis-style options are not RedisStore's (a URL is; refused at run time too)
expectTypeOf<{ host: string; port: number }>().toExtend<RedisStoreOptions>();
// @ts-expect-error: a SQLite store opens a path or uses a given database, not both
new SqliteStore({ path: './a.db', database: db });

if (hasSessionIndex(store)) expectTypeOf(store).toExtend<SessionIndex>();
expectTypeOf<ApplyResult['status']>().toEqualTypeOf<'applied' | 'gone' | 'conflict'>();
expectTypeOf<CreateResult['status']>().toEqualTypeOf<'created' | 'limit' | 'gone'>();
expectTypeOf<Extract<ApplyResult, { status: 'conflict' }>['record']>().toEqualTypeOf<SessionRecord>();
expectTypeOf<ChangeSet['increment']>().toEqualTypeOf<Record<string, number> | undefined>();

/** The smallest store a third party could write: the base contract, no index. */
const minimalStore: SessionStore = {
  capabilities: { index: false, nativeExpiry: false },
  async create() {
    return { status: 'created', evicted: [] };
  },
  async load() {
    return null;
  },
  async apply() {
    return { status: 'gone' };
  },
  async delete() {
    return null;
  },
  async trimSubject() {
    return [];
  },
  async isSuperseded() {
    return false;
  },
  async deleteExpired() {
    return [];
  },
  async close() {},
};
void minimalStore;

// @ts-expect-error: every store answers isSuperseded (part of the base contract since issue 19)
const incomplete: SessionStore = { ...minimalStore, isSuperseded: undefined };
void incomplete;

// --- The root is the app's API: the store contract's inner types are the store kit's ------------

// @ts-expect-error: a change set is what a store applies; store authors import it from tessera-session/store-kit
expectTypeOf<import('tessera-session').ChangeSet>().not.toBeNever();
// @ts-expect-error: likewise the result of apply
expectTypeOf<import('tessera-session').ApplyResult>().not.toBeNever();
// @ts-expect-error: and the result of create
expectTypeOf<import('tessera-session').CreateResult>().not.toBeNever();

// --- Testing helpers for apps ------------------------------------------------------------------

expectTypeOf(new TestingClock()).toEqualTypeOf<ManualClock>();
expectTypeOf(loginCookie(manager, 'user-1')).toEqualTypeOf<Promise<string>>();
expectTypeOf(loginCookie(manager, 'user-1', { displayName: 'Alice', idleTimeout: 600, secure: true })).toEqualTypeOf<Promise<string>>();
// @ts-expect-error: a subject is a string, as in login()
void loginCookie(manager, 42);

// --- The conformance suite for store authors ---------------------------------------------------

expectTypeOf(runStoreConformance).parameters.toEqualTypeOf<[options: ConformanceOptions]>();
expectTypeOf(runStoreConformance).returns.toEqualTypeOf<void>();
expectTypeOf<{ name: string; createStore: () => Promise<SessionStore> }>().toExtend<ConformanceOptions>();
expectTypeOf<{ name: string; createStore: () => MemoryStore; skip: string | false; concurrency: number }>().toExtend<ConformanceOptions>();
expectTypeOf<ConformanceOptions['setup']>().toEqualTypeOf<(() => Promise<void> | void) | undefined>();
// @ts-expect-error: the suite needs a name for its test titles
expectTypeOf<{ createStore: () => MemoryStore }>().toExtend<ConformanceOptions>();
