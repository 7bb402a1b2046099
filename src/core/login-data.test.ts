// What a login keeps of the session it replaces, and the data it sets in the same store step:
// under plain JSON and under encryption (where every value is bound to its session id).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock } from './clock.js';
import { jsonCodec, type ValueCodec } from './codec.js';
import { encryptionCodec } from './encryption.js';
import { BadRequestError, InvalidValueError, SessionTooLargeError } from './errors.js';
import { SessionManager } from './manager.js';
import type { SessionManagerOptions } from './options.js';
import type { Session } from './session.js';
import type { ApplyOptions, ApplyResult, ChangeSet, CreateOptions, CreateResult, JsonValue, SessionRecord } from './store.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** A memory store that records what it is asked to create and can hold the next create back. */
class HeldStore extends MemoryStore {
  readonly created: SessionRecord[] = [];
  applied = 0;
  #hold: { reached: () => void; released: Promise<void> } | null = null;

  /** The next `create` waits, once it has been called (`reached`), until `release()`. */
  holdNextCreate(): { reached: Promise<void>; release: () => void } {
    const reached = deferred();
    const released = deferred();
    this.#hold = { reached: reached.resolve, released: released.promise };
    return { reached: reached.promise, release: released.resolve };
  }

  override async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    this.created.push(structuredClone(record));
    const hold = this.#hold;
    this.#hold = null;
    if (hold !== null) {
      hold.reached();
      await hold.released;
    }
    return super.create(record, options);
  }

  override apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    this.applied++;
    return super.apply(id, changes, options);
  }
}

const codecs: Array<[string, ValueCodec]> = [
  ['plain JSON', jsonCodec],
  ['encrypted values', encryptionCodec([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }])],
];

for (const [label, codec] of codecs) {
  describe(`login data (${label})`, () => {
    let clock: ManualClock;
    let store: HeldStore;
    let m: SessionManager;

    function manager(options: Partial<SessionManagerOptions> = {}): SessionManager {
      return new SessionManager({ store, clock, codec, cleanupInterval: false, ...options });
    }

    beforeEach(() => {
      clock = new ManualClock();
      store = new HeldStore();
      m = manager();
    });

    async function request(token: string | null): Promise<Session> {
      return m.load({ cookie: token === null ? undefined : `tessera=${token}`, secure: false, ip: '192.0.2.1' });
    }

    /** A stored session holding `data`, logged in as `subject` unless it is null; its token. */
    async function stored(subject: string | null, data: Record<string, JsonValue>): Promise<string> {
      const session = await request(null);
      for (const [key, value] of Object.entries(data)) await session.set(key, value);
      if (subject !== null) await session.login(subject);
      assert.deepEqual({ ...session.data() }, data);
      return session.issuedToken as string;
    }

    /**
     * The session shows `expected` (through `data()` and `get`), and so does the record the store
     * holds, read afresh with the new token, so the values were encoded for the new session's id.
     */
    async function assertShows(session: Session, subject: string, expected: Record<string, JsonValue>): Promise<void> {
      assert.equal(session.subject, subject);
      assert.deepEqual({ ...session.data() }, expected, 'the session object');
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(session.get(key), value);
      const raw = await store.load(session.id as string, { now: clock.now() });
      assert.ok(raw !== null);
      assert.deepEqual(Object.keys(raw.data).sort(), Object.keys(expected).sort(), 'the stored fields');
      if (codec !== jsonCodec) for (const value of Object.values(raw.data)) assert.match(String(value), /^enc1\.k1\./);
      const fresh = await request(session.issuedToken);
      assert.equal(fresh.subject, subject);
      assert.deepEqual({ ...fresh.data() }, expected, 'the stored record, decoded');
    }

    describe('what a login keeps', () => {
      it('an anonymous session keeps its data (a cart survives the login)', async () => {
        const token = await stored(null, { cart: ['apple'] });
        const session = await request(token);
        await session.login('alice');
        await assertShows(session, 'alice', { cart: ['apple'] });
      });

      it("a session of another subject starts empty: nothing of alice's reaches bob", async () => {
        const token = await stored('alice', { roles: ['admin'], email: 'alice@example.com' });
        const session = await request(token);
        await session.login('bob');
        await assertShows(session, 'bob', {});
        assert.equal((await request(token)).isStored, false, "alice's token is dead");
      });

      it('the same subject logging in again keeps its data', async () => {
        const token = await stored('alice', { roles: ['admin'] });
        const session = await request(token);
        await session.login('alice');
        await assertShows(session, 'alice', { roles: ['admin'] });
      });

      it('keepData: true carries the data to another subject', async () => {
        const token = await stored('alice', { cart: ['apple'] });
        const session = await request(token);
        await session.login('bob', { keepData: true });
        await assertShows(session, 'bob', { cart: ['apple'] });
      });

      it('keepData: false starts empty, from an anonymous session and from the same subject too', async () => {
        const anonymous = await request(await stored(null, { cart: ['apple'] }));
        await anonymous.login('alice', { keepData: false });
        await assertShows(anonymous, 'alice', {});
        const again = await request(await stored('carol', { roles: ['admin'] }));
        await again.login('carol', { keepData: false });
        await assertShows(again, 'carol', {});
      });
    });

    describe('data given to the login', () => {
      it('is stored in the one create that logs in, written over the kept data', async () => {
        const token = await stored(null, { cart: ['apple'], step: 1 });
        const session = await request(token);
        const [creates, applies] = [store.created.length, store.applied];
        await session.login('alice', { data: { cart: ['pear'], roles: ['member'] } });
        await assertShows(session, 'alice', { cart: ['pear'], step: 1, roles: ['member'] });
        assert.equal(store.created.length, creates + 1, 'one create');
        assert.equal(store.applied, applies, 'and no write after it');
        const create = store.created.at(-1) as SessionRecord;
        assert.equal(create.subject, 'alice');
        assert.deepEqual(Object.keys(create.data).sort(), ['cart', 'roles', 'step'], 'the logged-in session never exists without it');
      });

      it('is all that a session of another subject holds after the login', async () => {
        const session = await request(await stored('alice', { roles: ['admin'], email: 'alice@example.com' }));
        await session.login('bob', { data: { roles: ['viewer'] } });
        await assertShows(session, 'bob', { roles: ['viewer'] });
      });

      it('starts the session of a new visitor (nothing stored yet) with it, in one create', async () => {
        const session = await request(null);
        await session.login('alice', { data: { roles: ['member'], prefs: { theme: 'dark' } } });
        await assertShows(session, 'alice', { roles: ['member'], prefs: { theme: 'dark' } });
        assert.equal(store.created.length, 1);
      });

      it('is copied, as set() copies a value: changing the object afterwards changes nothing', async () => {
        const prefs = { theme: 'dark' };
        const session = await request(null);
        await session.login('alice', { data: { prefs } });
        prefs.theme = 'light';
        await assertShows(session, 'alice', { prefs: { theme: 'dark' } });
      });

      it('that set() would refuse is refused before anything changes', async () => {
        m = manager({ maxFields: 3, maxValueBytes: 64, maxSessionBytes: 100 });
        const token = await stored(null, { cart: ['apple'] });
        const refused: Array<[string, unknown, abstract new (...args: never[]) => Error]> = [
          ['not an object', ['a'], BadRequestError],
          ['null', null, BadRequestError],
          ['a Map', new Map([['a', 1]]), BadRequestError],
          ['an empty key', { '': 1 }, BadRequestError],
          ['a key of 129 characters', { ['k'.repeat(129)]: 1 }, BadRequestError],
          ['undefined', { a: undefined }, InvalidValueError],
          ['a function', { a: () => 1 }, InvalidValueError],
          ['a lone surrogate', { a: '\ud800' }, BadRequestError],
          ['a value past maxValueBytes', { a: 'x'.repeat(64) }, SessionTooLargeError],
          ['more than maxFields', { a: 1, b: 2, c: 3, d: 4 }, SessionTooLargeError],
          ['past maxFields with the kept data', { a: 1, b: 2, c: 3 }, SessionTooLargeError],
          ['past maxSessionBytes with the kept data', { a: 'x'.repeat(50), b: 'y'.repeat(40) }, SessionTooLargeError],
        ];
        for (const [what, data, error] of refused) {
          const session = await request(token);
          await assert.rejects(session.login('alice', { data: data as Record<string, unknown> }), error, what);
          assert.equal(session.subject, null, what);
          assert.deepEqual({ ...session.data() }, { cart: ['apple'] }, what);
        }
        const session = await request(token);
        await assert.rejects(session.login('alice', { keepData: 'yes' as unknown as boolean }), BadRequestError);
        const after = await request(token);
        assert.equal(after.subject, null, 'the anonymous session is still there, not logged in');
        assert.deepEqual({ ...after.data() }, { cart: ['apple'] });
      });

      it('counts against the caps with only the data kept: a session of another subject does not count', async () => {
        m = manager({ maxFields: 2 });
        const session = await request(await stored('alice', { roles: ['admin'], email: 'alice@example.com' }));
        await session.login('bob', { data: { name: 'Bob', plan: 'free' } });
        await assertShows(session, 'bob', { name: 'Bob', plan: 'free' });
        const anonymous = await request(await stored(null, { cart: ['apple'] }));
        await anonymous.login('carol', { keepData: false, data: { a: 1, b: 2 } });
        await assertShows(anonymous, 'carol', { a: 1, b: 2 });
      });
    });

    describe('a login that lands after another request changed the session', () => {
      it("keeps nothing of alice's for bob, though her other request added a field while the login was held", async () => {
        const token = await stored('alice', { roles: ['admin'] });
        const session = await request(token);
        const creates = store.created.length;
        const held = store.holdNextCreate();
        const login = session.login('bob', { data: { seen: 1 } });
        await held.reached;
        await (await request(token)).set('email', 'alice@example.com');
        held.release();
        await login;
        assert.equal(store.created.length, creates + 2, 'the held create found the session changed and the login retried');
        await assertShows(session, 'bob', { seen: 1 });
      });

      it('an anonymous session keeps what another request added while the login was held, with the login data on top', async () => {
        const token = await stored(null, { cart: ['apple'] });
        const session = await request(token);
        const held = store.holdNextCreate();
        const login = session.login('alice', { data: { roles: ['member'], cart: ['apple', 'fig'] } });
        await held.reached;
        const other = await request(token);
        await Promise.all([other.set('cart', ['apple', 'pear']), other.set('coupon', 'WELCOME')]);
        held.release();
        await login;
        await assertShows(session, 'alice', { cart: ['apple', 'fig'], coupon: 'WELCOME', roles: ['member'] });
      });

      it('revoked while the login was held: a new session with only the login data, even with keepData', async () => {
        const token = await stored(null, { cart: ['apple'] });
        const session = await request(token);
        const held = store.holdNextCreate();
        const login = session.login('alice', { keepData: true, data: { roles: ['member'] } });
        await held.reached;
        assert.equal(await m.revoke(session.id as string), true);
        held.release();
        await login;
        await assertShows(session, 'alice', { roles: ['member'] });
      });

      it('refuses data that fits the session as first read but not as the login finds it, and changes nothing', async () => {
        m = manager({ maxFields: 3 });
        const token = await stored(null, { a: 1 });
        const session = await request(token);
        const held = store.holdNextCreate();
        const login = session.login('alice', { data: { b: 2 } });
        await held.reached;
        const other = await request(token);
        await Promise.all([other.set('c', 3), other.set('d', 4)]);
        held.release();
        await assert.rejects(login, SessionTooLargeError);
        const after = await request(token);
        assert.equal(after.subject, null);
        assert.deepEqual({ ...after.data() }, { a: 1, c: 3, d: 4 });
      });
    });
  });
}
