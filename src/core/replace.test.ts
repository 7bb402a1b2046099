// Login and rotation over their common retry loop, when another request got to the session first.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock } from './clock.js';
import { SessionEndedError } from './errors.js';
import type { SessionEvent } from './events.js';
import { SessionManager } from './manager.js';

let clock: ManualClock;
let events: SessionEvent[];
let m: SessionManager;

async function request(token: string | null) {
  const cookies: string[] = [];
  const session = await m.load({
    cookie: token === null ? undefined : `tessera=${token}`,
    secure: false,
    ip: '192.0.2.1',
    setCookie: (value) => cookies.push(value),
  });
  return { session, cookies };
}

/** A stored session with `cart`, and its token. */
async function stored(subject?: string): Promise<{ token: string; id: string }> {
  const { session } = await request(null);
  await session.set('cart', ['apple']);
  if (subject !== undefined) await session.login(subject, { displayName: 'Alice' });
  return { token: session.issuedToken as string, id: session.id as string };
}

beforeEach(() => {
  clock = new ManualClock();
  events = [];
  m = new SessionManager({ store: new MemoryStore(), clock, cleanupInterval: false, absoluteTimeout: 3600 });
  m.subscribe((event) => void events.push(event));
});

describe('login', () => {
  it("retries on a session another request changed meanwhile, and keeps that request's data", async () => {
    const { token, id } = await stored();
    const stale = await request(token);
    await (await request(token)).session.set('cart', ['apple', 'pear']);
    await stale.session.login('alice');
    assert.equal(stale.session.subject, 'alice');
    assert.deepEqual(stale.session.get('cart'), ['apple', 'pear']);
    assert.deepEqual((await request(stale.session.issuedToken)).session.get('cart'), ['apple', 'pear']);
    assert.equal((await request(token)).session.isStored, false, 'the replaced token is dead');
    assert.deepEqual(
      events.filter((e) => e.type === 'loggedIn').map((e) => e.type === 'loggedIn' && e.previousId),
      [id],
    );
  });

  it('on a session revoked meanwhile starts a new one, without its data', async () => {
    const { token, id } = await stored();
    const stale = await request(token);
    assert.equal(await m.revoke(id), true);
    await stale.session.login('alice');
    assert.equal(stale.session.subject, 'alice');
    assert.deepEqual({ ...stale.session.data() }, {});
    assert.match(stale.cookies.at(-1) as string, /^tessera=[^;]+; Max-Age=3600;/);
    const loggedIn = events.find((e) => e.type === 'loggedIn');
    assert.ok(loggedIn?.type === 'loggedIn' && loggedIn.previousId === null);
  });
});

describe('rotation', () => {
  it('keeps subject, display name, authentication time, absolute expiry and data, also after retrying on a change made meanwhile', async () => {
    const { token, id } = await stored('alice');
    const before = (await request(token)).session.info;
    clock.advance(60_000);
    const stale = await request(token);
    await (await request(token)).session.set('seen', true);
    await stale.session.rotate();
    const after = stale.session.info;
    assert.ok(before !== null && after !== null);
    assert.notEqual(after.id, id);
    assert.deepEqual(
      [after.subject, after.displayName, after.authenticatedAt, after.absoluteExpiresAt, after.createdAt],
      [before.subject, before.displayName, before.authenticatedAt, before.absoluteExpiresAt, before.createdAt],
    );
    assert.deepEqual({ ...stale.session.data() }, { cart: ['apple'], seen: true });
    assert.match(stale.cookies.at(-1) as string, /; Max-Age=3540;/, 'the cookie still ends at the absolute expiry');
    const rotated = events.find((e) => e.type === 'rotated');
    assert.ok(rotated?.type === 'rotated' && rotated.previousId === id);
  });

  it('of a session revoked meanwhile fails with SessionEndedError and clears the cookie', async () => {
    const { token, id } = await stored('alice');
    const stale = await request(token);
    await m.revoke(id);
    await assert.rejects(stale.session.rotate(), SessionEndedError);
    assert.deepEqual(stale.cookies, ['tessera=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax']);
    assert.equal(stale.session.isStored, false);
    await assert.rejects(stale.session.set('x', 1), SessionEndedError);
  });

  it('of a session a login replaced meanwhile fails, and leaves the newer cookie alone', async () => {
    const { token } = await stored('alice');
    const stale = await request(token);
    await (await request(token)).session.login('alice');
    await assert.rejects(stale.session.rotate(), SessionEndedError);
    assert.deepEqual(stale.cookies, []);
  });

  it('of nothing stored does nothing', async () => {
    const { session, cookies } = await request(null);
    await session.rotate();
    assert.equal(session.isStored, false);
    assert.deepEqual([cookies, events], [[], []]);
  });
});
