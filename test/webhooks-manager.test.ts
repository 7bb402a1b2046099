// Webhooks through a real SessionManager: each way a session ends (logout, revoke, revokeAll,
// the sweep of an expired session) gives exactly one delivery, verified with standardwebhooks,
// with its reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ManualClock, type SessionEvent, SessionManager } from '../src/core/index.js';
import { type SessionWebhooks, sessionWebhooks } from '../src/webhooks/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { verifyDelivery, WebhookReceiver } from './support/webhook-receiver.js';

let clock: ManualClock;
let store: MemoryStore;
let receiver: WebhookReceiver;
let notifier: SessionWebhooks;
let manager: SessionManager;
let events: SessionEvent[];
const secret = `whsec_${randomBytes(32).toString('base64')}`;

function setUp(created = false): void {
  notifier = sessionWebhooks({ url: receiver.url, secret, pollInterval: 3600, events: { created, loggedIn: created } });
  manager = new SessionManager({ store, clock, cleanupInterval: false, idleTimeout: 600, webhooks: notifier });
  manager.subscribe((event) => {
    events.push(event);
  });
}

beforeEach(async () => {
  clock = new ManualClock(Date.now());
  store = new MemoryStore();
  receiver = await WebhookReceiver.start();
  events = [];
});

afterEach(async () => {
  await receiver.close();
  manager.close();
  await notifier.close();
});

async function login(subject: string): Promise<string> {
  const session = await manager.load({ cookie: undefined, secure: false, ip: '192.0.2.1', userAgent: 'test', setCookie: () => {} });
  await session.login(subject);
  return session.id!;
}

type Payload = { type: string; timestamp: string; data: Record<string, unknown> };

/** The deliveries since `from`, each verified, as their payloads. */
function payloads(from: number): Payload[] {
  return receiver.received.slice(from).map((d) => verifyDelivery(secret, d, clock) as Payload);
}

describe('webhooks through a SessionManager', () => {
  it('logout, revoke, revokeAll and the sweep each deliver one verified session.ended with its reason', async () => {
    setUp();
    const a = await login('alice');
    const b = await login('bob');
    const c1 = await login('carol');
    const c2 = await login('carol');
    const d = await login('dave');
    await notifier.flush();
    assert.equal(receiver.received.length, 0, 'no created or logged_in notices unless asked');

    // logout, through the session handle
    const cookie = await (async () => {
      let set = '';
      const s = await manager.load({ cookie: undefined, secure: false, ip: null, userAgent: null, setCookie: (v) => (set = v) });
      await s.login('erin');
      return { id: s.id!, cookie: set.split(';')[0]! };
    })();
    const erin = await manager.load({ cookie: cookie.cookie, secure: false, ip: null, userAgent: null, setCookie: () => {} });
    assert.equal(erin.id, cookie.id);
    await erin.logout();
    await notifier.flush();
    assert.deepEqual(payloads(0), [
      {
        type: 'session.ended',
        timestamp: payloads(0)[0]!.timestamp,
        data: { id: cookie.id, subject: 'erin', reason: 'logout', endedAt: payloads(0)[0]!.timestamp },
      },
    ] as never);

    await manager.revoke(a);
    await notifier.flush();
    assert.deepEqual(
      payloads(1).map((p) => p.data),
      [{ id: a, subject: 'alice', reason: 'admin', endedAt: new Date(clock.now()).toISOString() }],
    );

    await manager.revoke(b, 'user');
    await notifier.flush();
    assert.deepEqual(
      payloads(2).map((p) => [p.data.id, p.data.reason]),
      [[b, 'user']],
    );

    assert.equal(await manager.revokeAll('carol'), 2);
    await notifier.flush();
    assert.deepEqual(
      payloads(3)
        .map((p) => `${p.data.id} ${p.data.subject} ${p.data.reason}`)
        .sort(),
      [`${c1} carol admin`, `${c2} carol admin`].sort(),
    );

    clock.advance(601_000);
    assert.equal(await manager.sweep(), 1);
    await notifier.flush();
    assert.deepEqual(
      payloads(5).map((p) => [p.type, p.data.id, p.data.subject, p.data.reason]),
      [['session.ended', d, 'dave', 'expired']],
    );

    // Exactly one each: ids unique, nothing left, nothing more after time passes.
    assert.equal(receiver.received.length, 6);
    assert.equal(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size, 6);
    assert.equal(await store.outbox.countNotices(), 0);
    clock.advance(86_400_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 6);
    assert.deepEqual(
      events.filter((e) => e.type === 'webhook').map((e) => e.outcome),
      ['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered'],
    );
  });

  it('an ending wakes the notifier: delivered without flush or poll', async () => {
    setUp();
    const id = await login('frank');
    await manager.revoke(id);
    await receiver.arrived(1);
    assert.equal((payloads(0)[0]!.data as { id: string }).id, id);
  });

  it('with events on, an anonymous session delivers session.created, and its login session.logged_in', async () => {
    setUp(true);
    let cookie = '';
    const anonymous = await manager.load({ cookie: undefined, secure: false, ip: null, userAgent: null, setCookie: (v) => (cookie = v) });
    await anonymous.set('cart', 1);
    const created = anonymous.id!;
    await receiver.arrived(1);
    const session = await manager.load({ cookie: cookie.split(';')[0], secure: false, ip: null, userAgent: null, setCookie: () => {} });
    await session.login('gina');
    await receiver.arrived(2);
    assert.deepEqual(
      payloads(0).map((p) => `${p.type} ${p.data.id} ${p.data.subject ?? '-'}`),
      [`session.created ${created} -`, `session.logged_in ${session.id} gina`],
    );
  });
});
