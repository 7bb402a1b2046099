// Session-end webhooks on every store, in one process: each ending delivered once and verified with
// `standardwebhooks`, a receiver down for a while then back with nothing lost, a 410 that disables,
// the outbox cap. Time is a ManualClock; `flush()` runs the delivery pass the poll timer would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { ManualClock, type SessionEvent, SessionManager, type SessionManagerOptions, type SessionStore } from '../src/core/index.js';
import { hasSessionOutbox } from '../src/core/outbox.js';
import { sessionWebhooks, type SessionWebhooks, type WebhookOptions } from '../src/webhooks/index.js';
import { VerifyingReceiver } from './support/verifying-receiver.js';
import { webhookStoreTargets } from './support/webhook-stores.js';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const DEVICE = { secure: false, ip: '127.0.0.1', userAgent: 'webhooks-test' };

for (const target of await webhookStoreTargets()) {
  describe(`session-end webhooks on ${target.name}`, { skip: target.skip }, () => {
    let clock: ManualClock;
    // It checks each delivery's timestamp against the test's clock, as the sender signs it.
    const receiver = new VerifyingReceiver(SECRET, { now: () => clock.now() });
    let data: Awaited<ReturnType<typeof target.create>>;
    let store: SessionStore;
    let webhooks: SessionWebhooks;
    let manager: SessionManager;
    let events: SessionEvent[];

    after(async () => {
      await receiver.stop();
      await target.teardown?.();
    });
    beforeEach(async () => {
      data = await target.create();
      store = data.open();
      clock = new ManualClock();
      receiver.deliveries.length = 0;
      receiver.respond = () => ({ status: 204 });
      await receiver.stop();
      await receiver.start();
    });
    afterEach(async () => {
      manager?.close();
      await webhooks?.close();
      await store.close();
      await data.cleanup();
    });

    /** A manager whose endings are delivered to the receiver; no poll timer runs within a test (flush does the pass). */
    function start(hooks: Partial<WebhookOptions> = {}, options: Partial<SessionManagerOptions> = {}): void {
      webhooks = sessionWebhooks({ url: receiver.url, secret: SECRET, pollInterval: 3600, ...hooks });
      manager = new SessionManager({ store, clock, cleanupInterval: false, webhooks, ...options });
      events = [];
      manager.subscribe((event) => {
        events.push(event);
      });
    }

    async function login(subject: string, idleTimeout?: number): Promise<{ token: string; id: string }> {
      const session = await manager.load({ ...DEVICE, setCookie: () => {} });
      await session.login(subject, idleTimeout === undefined ? {} : { idleTimeout });
      return { token: session.issuedToken as string, id: session.id as string };
    }

    async function backlog(): Promise<number> {
      const outbox = manager.options.outbox;
      assert.ok(outbox !== null);
      return outbox.countNotices();
    }

    it('the store declares an outbox', () => {
      assert.equal(hasSessionOutbox(store), true);
      start();
    });

    it('every way a session ends is delivered once, signed, with its reason and subject and no token', async () => {
      start({}, { maxSessionsPerSubject: 1 });
      const loggedOut = await login('ann');
      const byLogout = await manager.load({ ...DEVICE, cookie: `tessera=${loggedOut.token}`, setCookie: () => {} });
      await byLogout.logout();
      const revokedByUser = await login('bob');
      const other = await login('cat');
      assert.equal(await manager.revoke(revokedByUser.id, 'user'), true);
      assert.equal(await manager.revoke(other.id, 'admin'), true);
      const evicted = await login('dan');
      const evictor = await login('dan');
      const expiring = await login('eve', 60);
      const expiresAt = clock.now() + 60_000;
      clock.advance(61_000);
      assert.equal(await manager.sweep(), 1);
      await webhooks.flush();

      const expected = new Map([
        [loggedOut.id, { subject: 'ann', reason: 'logout' }],
        [revokedByUser.id, { subject: 'bob', reason: 'user' }],
        [other.id, { subject: 'cat', reason: 'admin' }],
        [evicted.id, { subject: 'dan', reason: 'evicted' }],
        [expiring.id, { subject: 'eve', reason: 'expired' }],
      ]);
      assert.equal(receiver.deliveries.length, expected.size, 'one delivery per ending, no more');
      for (const delivery of receiver.deliveries) {
        assert.equal(delivery.verified, true, 'standardwebhooks verifies it');
        assert.equal(delivery.payload?.type, 'session.ended');
        const sessionId = delivery.payload?.data.id as string;
        assert.equal(delivery.id, `session.ended:${sessionId}`);
        assert.deepEqual(
          { subject: delivery.payload?.data.subject, reason: delivery.payload?.data.reason },
          expected.get(sessionId),
          `the notice of ${sessionId}`,
        );
        const raw = JSON.stringify(delivery.payload);
        for (const { token } of [loggedOut, revokedByUser, other, evicted, evictor, expiring]) {
          assert.ok(!raw.includes(token.slice(28)), 'no token secret in a payload');
        }
      }
      const expired = receiver.deliveries.find((d) => d.payload?.data.reason === 'expired');
      assert.equal(expired?.payload?.data.endedAt, new Date(expiresAt).toISOString());
      assert.equal(await backlog(), 0, 'delivered notices leave the outbox');
      assert.equal(events.filter((e) => e.type === 'webhook' && e.outcome === 'delivered').length, expected.size);
    });

    it('a receiver down for a while, then back: every notice is delivered, none lost', async () => {
      start();
      await receiver.stop();
      const ended = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const { id } = await login(`u${i}`);
        await manager.revoke(id, 'admin');
        ended.add(`session.ended:${id}`);
      }
      // Four passes while it is down, each after the retry then due (5 s, 5 min, 30 min, 2 h, jittered).
      for (const wait of [0, 7_000, 370_000, 2_200_000]) {
        clock.advance(wait);
        await webhooks.flush();
      }
      assert.equal(receiver.deliveries.length, 0);
      assert.equal(await backlog(), 20, 'nothing dropped while the receiver is down');
      const retrying = events.filter((e) => e.type === 'webhook' && e.outcome === 'retrying').length;
      assert.equal(retrying, 80, 'each notice tried four times');
      await receiver.start();
      clock.advance(9_000_000);
      await webhooks.flush();
      assert.deepEqual(receiver.delivered, ended);
      assert.equal(receiver.deliveries.length, 20, 'each delivered once after the receiver came back');
      assert.equal(await backlog(), 0);
    });

    it('deliver: false records and sends nothing; a delivering process on the same store sends it', async () => {
      start({ deliver: false });
      const { id } = await login('rec');
      await manager.revoke(id, 'admin');
      await webhooks.flush();
      clock.advance(60_000);
      await webhooks.flush();
      assert.equal(receiver.deliveries.length, 0, 'nothing sent from the recording process');
      assert.equal(await backlog(), 1);
      // The delivering process: its own store object and manager on the same data.
      const other = data.open();
      const delivering = sessionWebhooks({ url: receiver.url, secret: SECRET, pollInterval: 3600 });
      const worker = new SessionManager({ store: other, clock, cleanupInterval: false, webhooks: delivering });
      try {
        await delivering.flush();
        assert.deepEqual(receiver.delivered, new Set([`session.ended:${id}`]));
        assert.equal(await backlog(), 0);
      } finally {
        worker.close();
        await delivering.close();
        if (other !== store) await other.close();
      }
    });

    it('a receiver answering 410 Gone disables delivery', async () => {
      start({ concurrency: 1 });
      receiver.respond = () => ({ status: 410 });
      for (let i = 0; i < 3; i++) {
        const { id } = await login(`g${i}`);
        await manager.revoke(id, 'admin');
      }
      await webhooks.flush();
      assert.equal(receiver.deliveries.length, 1, 'the first answer stops delivery');
      assert.equal(events.filter((e) => e.type === 'webhook' && e.outcome === 'disabled').length, 1);
      receiver.respond = () => ({ status: 204 });
      const { id } = await login('late');
      await manager.revoke(id, 'admin');
      clock.advance(86_400_000);
      await webhooks.flush();
      assert.equal(receiver.deliveries.length, 1, 'nothing more is sent, even to a receiver that would now accept');
    });

    it('the outbox cap holds while the receiver is down, with an outboxFull event', async () => {
      start({ maxBacklog: 10 });
      await receiver.stop();
      for (let i = 0; i < 25; i++) {
        const { id } = await login(`c${i}`);
        await manager.revoke(id, 'admin');
      }
      await webhooks.flush();
      assert.ok((await backlog()) <= 10, 'at most the cap is held');
      // The worker trims at each pass, and each ending wakes one: the drops may come in several events.
      const full = events.flatMap((e) => (e.type === 'outboxFull' ? [e] : []));
      assert.ok(full.length >= 1);
      assert.ok(full.every((e) => e.max === 10));
      assert.equal(
        full.reduce((sum, e) => sum + e.dropped, 0),
        15,
        'every notice beyond the cap is reported dropped',
      );
      await receiver.start();
      clock.advance(86_400_000);
      await webhooks.flush();
      assert.equal(receiver.delivered.size, 10, 'the notices kept are delivered');
      assert.equal(await backlog(), 0);
    });
  });
}
