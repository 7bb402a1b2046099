// sessionWebhooks delivering from an outbox to a real receiver on 127.0.0.1, every delivery
// verified with the standardwebhooks package; time moved with a ManualClock, never slept.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { InvalidOptionError, ManualClock, type SessionEvent, type SessionNotice } from '../src/core/index.js';
import {
  type SessionWebhooks,
  defaultRetrySchedule,
  sessionWebhooks,
  signWebhook,
  verifyWebhook,
  type WebhookOptions,
} from '../src/webhooks/index.js';
import { ArrayOutbox } from './support/array-outbox.js';
import { verifyDelivery, WebhookReceiver } from './support/webhook-receiver.js';

const secret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

let clock: ManualClock;
let outbox: ArrayOutbox;
let receiver: WebhookReceiver;
let events: SessionEvent[];
let notifiers: SessionWebhooks[];
let key: string;

beforeEach(async () => {
  // Near real time: receivers compare webhook-timestamp with their clock.
  clock = new ManualClock(Date.now());
  outbox = new ArrayOutbox();
  receiver = await WebhookReceiver.start();
  events = [];
  notifiers = [];
  key = secret();
});

afterEach(async () => {
  // The receiver first: its closing ends any answer a failed test left held, which close() would await.
  await receiver.close();
  for (const n of notifiers) await n.close();
});

function start(options: Partial<WebhookOptions> = {}): SessionWebhooks {
  const notifier = sessionWebhooks({ url: receiver.url, secret: key, pollInterval: 3600, ...options });
  notifier.start({ outbox, clock, emit: (event) => events.push(event) });
  notifiers.push(notifier);
  return notifier;
}

function ended(sessionId: string, reason: SessionNotice['reason'] = 'logout', at = clock.now()): Omit<SessionNotice, 'attempts'> {
  return { id: `session.ended:${sessionId}`, type: 'session.ended', sessionId, subject: 'alice', reason, at };
}

function outcomes(): string[] {
  return events.flatMap((e) => (e.type === 'webhook' ? [`${e.notice.id} ${e.outcome} #${e.attempt} ${e.status}`] : []));
}

describe('delivery', () => {
  it('POSTs a session.ended notice, signed; the receiver verifies it with standardwebhooks; the notice leaves the outbox', async () => {
    const notifier = start();
    const at = clock.now() - 1500;
    await outbox.addNotices([ended('s1', 'admin', at)]);
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    const delivery = receiver.received[0]!;
    assert.deepEqual(verifyDelivery(key, delivery, clock), {
      type: 'session.ended',
      timestamp: new Date(at).toISOString(),
      data: { id: 's1', subject: 'alice', reason: 'admin', endedAt: new Date(at).toISOString() },
    });
    assert.equal(delivery.headers['content-type'], 'application/json');
    assert.equal(delivery.headers['webhook-id'], 'session.ended:s1');
    assert.equal(delivery.headers['webhook-timestamp'], String(Math.floor(clock.now() / 1000)));
    assert.match(delivery.headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]+=*$/);
    assert.equal(await outbox.countNotices(), 0);
    assert.deepEqual(outcomes(), ['session.ended:s1 delivered #1 204']);
    // A wrong secret does not verify.
    assert.throws(() => verifyDelivery(secret(), delivery, clock), /No matching signature/);
  });

  it('delivers session.created and session.logged_in in their shapes', async () => {
    const notifier = start({ events: { created: true, loggedIn: true } });
    assert.deepEqual(notifier.notices, { created: true, loggedIn: true });
    const at = clock.now() - 1;
    await outbox.addNotices([
      { id: 'session.created:s2', type: 'session.created', sessionId: 's2', subject: null, reason: null, at },
      { id: 'session.logged_in:s2', type: 'session.logged_in', sessionId: 's2', subject: 'bob', reason: null, at: at + 1 },
    ]);
    await notifier.flush();
    const bodies = receiver.received.map((d) => verifyDelivery(key, d, clock));
    const iso = (ms: number) => new Date(ms).toISOString();
    assert.deepEqual(bodies, [
      { type: 'session.created', timestamp: iso(at), data: { id: 's2', subject: null, createdAt: iso(at) } },
      { type: 'session.logged_in', timestamp: iso(at + 1), data: { id: 's2', subject: 'bob', loggedInAt: iso(at + 1) } },
    ]);
  });

  it('signs with every secret while one is rotated: a receiver knowing either verifies', async () => {
    const older = secret();
    const newer = secret();
    const notifier = start({ secret: [older, newer] });
    await outbox.addNotices([ended('s3')]);
    await notifier.flush();
    const delivery = receiver.received[0]!;
    assert.equal(delivery.headers['webhook-signature']!.split(' ').length, 2);
    assert.equal((verifyDelivery(newer, delivery, clock) as { type: string }).type, 'session.ended');
    assert.equal((verifyDelivery(older, delivery, clock) as { type: string }).type, 'session.ended');
  });

  it('wake() starts a pass on its own, off the caller’s path', async () => {
    const notifier = start();
    await outbox.addNotices([ended('s4')]);
    notifier.wake();
    // wake only schedules: nothing has been claimed when it returns.
    assert.equal(outbox.claims, 0);
    await receiver.arrived(1);
    verifyDelivery(key, receiver.received[0]!, clock);
  });

  it('polls the outbox on an unref’d timer', async () => {
    start({ pollInterval: 0.05 });
    await outbox.addNotices([ended('s5')]);
    await receiver.arrived(1);
    assert.equal(receiver.received[0]!.headers['webhook-id'], 'session.ended:s5');
  });

  it('never follows a redirect: a 3xx is a failed attempt', async () => {
    const notifier = start();
    receiver.respond = () => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } });
    await outbox.addNotices([ended('s6')]);
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    assert.deepEqual(outcomes(), ['session.ended:s6 retrying #1 302']);
  });

  it('runs at most `concurrency` deliveries at once', async () => {
    const notifier = start({ concurrency: 2 });
    // Counted at the receiver, which holds every answer: each held request is one in flight.
    const held: (() => void)[] = [];
    let most = 0;
    receiver.respond = () =>
      new Promise((resolve) => {
        held.push(() => resolve({ status: 200 }));
        most = Math.max(most, held.length);
      });
    await outbox.addNotices(['a', 'b', 'c', 'd', 'e'].map((id) => ended(id)));
    const flushed = notifier.flush();
    for (let delivered = 0; delivered < 5; delivered++) {
      await receiver.arrived(Math.min(delivered + 2, 5));
      assert.ok(most <= 2, `${most} requests in flight`);
      held.shift()!();
    }
    await flushed;
    assert.equal(most, 2);
    assert.equal(receiver.received.length, 5);
  });
});

describe('retries', () => {
  it('follows the Standard Webhooks schedule, jittered by ±20%, under one webhook-id, then gives up', async () => {
    const notifier = start();
    receiver.respond = () => ({ status: 500 });
    await outbox.addNotices([ended('r1')]);
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    for (const [index, seconds] of defaultRetrySchedule.entries()) {
      clock.advance(seconds * 790);
      await notifier.flush();
      assert.equal(receiver.received.length, index + 1, `not before 80% of ${seconds}s`);
      clock.advance(seconds * 420);
      await notifier.flush();
      assert.equal(receiver.received.length, index + 2, `by 120% of ${seconds}s`);
      verifyDelivery(key, receiver.received[index + 1]!, clock);
    }
    assert.equal(receiver.received.length, 8);
    assert.deepEqual(new Set(receiver.received.map((d) => d.headers['webhook-id'])), new Set(['session.ended:r1']));
    assert.equal(new Set(receiver.received.map((d) => d.headers['webhook-timestamp'])).size, 8, 'each attempt signs its own time');
    const last = outcomes();
    assert.deepEqual(
      last.slice(0, 7),
      [1, 2, 3, 4, 5, 6, 7].map((n) => `session.ended:r1 retrying #${n} 500`),
    );
    assert.equal(last[7], 'session.ended:r1 failed #8 500');
    assert.equal(await outbox.countNotices(), 0);
    clock.advance(100 * 3600_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 8);
  });

  it('honours Retry-After in seconds and as an HTTP date, at most 24 hours', async () => {
    const notifier = start();
    const answers: Record<string, string>[] = [
      { 'retry-after': '120' },
      { 'retry-after': new Date(clock.now() + 120_000 + 3_600_000).toUTCString() },
      { 'retry-after': '9999999' },
    ];
    receiver.respond = () => {
      const headers = answers.shift();
      return headers === undefined ? { status: 200 } : { status: 503, headers };
    };
    await outbox.addNotices([ended('r2')]);
    await notifier.flush();
    clock.advance(119_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 1, 'not before Retry-After: 120');
    clock.advance(1_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 2);
    // The date said an hour after the first answer's time + 120 s, that is one hour from now.
    clock.advance(3_599_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 2, 'not before the Retry-After date');
    clock.advance(1_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 3);
    clock.advance(24 * 3_600_000 - 1_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 3);
    clock.advance(1_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 4, 'a longer Retry-After is cut to 24 hours');
    assert.deepEqual(outcomes(), [
      'session.ended:r2 retrying #1 503',
      'session.ended:r2 retrying #2 503',
      'session.ended:r2 retrying #3 503',
      'session.ended:r2 delivered #4 200',
    ]);
  });

  it('falls back to the schedule when Retry-After is unreadable, and gives up past the last retry even if asked to wait', async () => {
    const notifier = start({ retrySchedule: [10] });
    receiver.respond = () => ({ status: 429, headers: { 'retry-after': 'soon' } });
    await outbox.addNotices([ended('r3')]);
    await notifier.flush();
    clock.advance(7_900);
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    clock.advance(4_200);
    receiver.respond = () => ({ status: 429, headers: { 'retry-after': '5' } });
    await notifier.flush();
    assert.equal(receiver.received.length, 2);
    assert.deepEqual(outcomes(), ['session.ended:r3 retrying #1 429', 'session.ended:r3 failed #2 429']);
    assert.equal(await outbox.countNotices(), 0);
  });

  it('loses nothing while the receiver is down (connections refused) and back', async () => {
    const notifier = start({ batchSize: 7 });
    await receiver.down();
    await outbox.addNotices(Array.from({ length: 20 }, (_, i) => ended(`d${i}`)));
    await notifier.flush();
    assert.equal(outcomes().length, 20);
    assert.ok(
      outcomes().every((o) => / retrying #1 null$/.test(o)),
      outcomes().join('\n'),
    );
    await receiver.up();
    clock.advance(6_000);
    await notifier.flush();
    assert.equal(receiver.received.length, 20);
    assert.deepEqual(
      receiver.received.map((d) => d.headers['webhook-id']).sort(),
      Array.from({ length: 20 }, (_, i) => `session.ended:d${i}`).sort(),
    );
    for (const delivery of receiver.received) verifyDelivery(key, delivery, clock);
    assert.equal(await outbox.countNotices(), 0);
  });

  it('cuts a slow receiver at the timeout and tries again later under the same webhook-id', async () => {
    const notifier = start({ timeout: 0.2 });
    let release: () => void = () => {};
    receiver.respond = () => {
      receiver.respond = () => ({ status: 200 });
      return new Promise((resolve) => {
        release = () => resolve({ status: 200 });
      });
    };
    await outbox.addNotices([ended('t1')]);
    await notifier.flush();
    assert.deepEqual(outcomes(), ['session.ended:t1 retrying #1 null']);
    release();
    clock.advance(6_000);
    await notifier.flush();
    assert.deepEqual(outcomes(), ['session.ended:t1 retrying #1 null', 'session.ended:t1 delivered #2 200']);
    assert.deepEqual(
      receiver.received.map((d) => d.headers['webhook-id']),
      ['session.ended:t1', 'session.ended:t1'],
    );
  });

  it('claims with a lease: a worker that died mid-delivery has its notice delivered again, same id, after the lease', async () => {
    const timeout = 10;
    await outbox.addNotices([ended('l1')]);
    // A worker claims and dies before any answer.
    const claimed = await outbox.claimNotices({ now: clock.now(), limit: 10, leaseUntil: clock.now() + (2 * timeout + 10) * 1000 });
    assert.equal(claimed.length, 1);
    const notifier = start({ timeout });
    await notifier.flush();
    assert.equal(receiver.received.length, 0, 'not while the lease holds');
    clock.advance((2 * timeout + 10) * 1000);
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    assert.equal(receiver.received[0]!.headers['webhook-id'], 'session.ended:l1');
    assert.deepEqual(outcomes(), ['session.ended:l1 delivered #2 204']);
  });
});

describe('410 and the cap', () => {
  it('410 Gone disables delivery: that notice removed, nothing more POSTed, the cap still enforced', async () => {
    const notifier = start({ concurrency: 1, maxBacklog: 3 });
    receiver.respond = () => ({ status: 410 });
    await outbox.addNotices([ended('g1', 'logout', clock.now() - 2), ended('g2', 'logout', clock.now() - 1)]);
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    assert.equal(notifier.disabled, true);
    assert.deepEqual(outcomes(), ['session.ended:g1 disabled #1 410']);
    assert.deepEqual(
      outbox.held.map((h) => h.notice.id),
      ['session.ended:g2'],
    );
    await outbox.addNotices(['g3', 'g4', 'g5', 'g6'].map((id, i) => ended(id, 'logout', clock.now() + i)));
    clock.advance(3_600_000);
    await notifier.flush();
    notifier.wake();
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
    assert.deepEqual(
      events.filter((e) => e.type === 'outboxFull').map((e) => ({ ...e, at: 0 })),
      [{ type: 'outboxFull', at: 0, dropped: 2, max: 3 }],
    );
    assert.equal(await outbox.countNotices(), 3);
  });

  it('over maxBacklog, drops the oldest beyond it and says how many (outboxFull)', async () => {
    const notifier = start({ maxBacklog: 5 });
    const base = clock.now();
    await outbox.addNotices(Array.from({ length: 12 }, (_, i) => ended(`c${i}`, 'expired', base - 1000 + i)));
    await notifier.flush();
    const full = events.filter((e) => e.type === 'outboxFull');
    assert.deepEqual(
      full.map((e) => [e.dropped, e.max]),
      [[7, 5]],
    );
    assert.deepEqual(
      receiver.received.map((d) => d.headers['webhook-id']).sort(),
      [7, 8, 9, 10, 11].map((i) => `session.ended:c${i}`).sort(),
      'the newest five, in whatever order the parallel deliveries arrive',
    );
    // At or under the cap: no event.
    await outbox.addNotices([ended('c12')]);
    await notifier.flush();
    assert.equal(events.filter((e) => e.type === 'outboxFull').length, 1);
  });
});

describe('lifecycle', () => {
  it('close() waits for the deliveries under way and stops polling', async () => {
    const notifier = start({ pollInterval: 0.01 });
    let release: () => void = () => {};
    receiver.respond = () => new Promise((resolve) => (release = () => resolve({ status: 200 })));
    await outbox.addNotices([ended('x1')]);
    notifier.wake();
    await receiver.arrived(1);
    let closed = false;
    const closing = notifier.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, false, 'still delivering');
    release();
    await closing;
    assert.deepEqual(outcomes(), ['session.ended:x1 delivered #1 200']);
    await outbox.addNotices([ended('x2')]);
    notifier.wake();
    await notifier.flush();
    assert.equal(receiver.received.length, 1);
  });

  it('serves one manager', () => {
    const notifier = start();
    assert.throws(() => notifier.start({ outbox, clock, emit: () => {} }), /one manager/);
  });
});

describe('options', () => {
  const url = 'https://hooks.example/sessions';
  it('refuses what is not http(s), not a whsec_ secret, or out of range', () => {
    const cases: [string, Partial<WebhookOptions>][] = [
      ['ftp', { url: 'ftp://hooks.example/x' }],
      ['file', { url: 'file:///etc/passwd' }],
      ['relative', { url: '/hooks' }],
      ['credentials', { url: 'https://user:pass@hooks.example/' }],
      ['no secret', { secret: undefined as never }],
      ['no prefix', { secret: randomBytes(32).toString('base64') }],
      ['not base64', { secret: 'whsec_not*base64!' }],
      ['short', { secret: `whsec_${randomBytes(8).toString('base64')}` }],
      ['empty list', { secret: [] }],
      ['one bad in a list', { secret: [secret(), 'whsec_'] }],
      ['timeout 0', { timeout: 0 }],
      ['negative retry', { retrySchedule: [5, -1] }],
      ['maxBacklog fraction', { maxBacklog: 1.5 }],
      ['concurrency 0', { concurrency: 0 }],
      ['format', { format: 'json' as never }],
      ['deliver not a boolean', { deliver: 'no' as never }],
    ];
    for (const [name, options] of cases) {
      assert.throws(() => sessionWebhooks({ url, secret: secret(), ...options } as WebhookOptions), InvalidOptionError, name);
    }
  });

  it('fills in the documented defaults', () => {
    const { options, notices } = sessionWebhooks({ url, secret: secret() });
    assert.deepEqual(notices, { created: false, loggedIn: false });
    assert.equal(options.timeout, 10);
    assert.deepEqual(options.retrySchedule, [5, 300, 1800, 7200, 18000, 36000, 36000]);
    assert.equal(options.maxBacklog, 10_000);
    assert.equal(options.pollInterval, 1);
    assert.equal(options.batchSize, 50);
    assert.equal(options.concurrency, 4);
    assert.equal(options.oidc, null);
  });
});

describe('signWebhook and verifyWebhook', () => {
  it('agree with the standardwebhooks package', () => {
    const content = { id: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body: '{"a":1}' };
    const header = signWebhook(content, key);
    assert.deepEqual(
      new Webhook(key).verify(content.body, {
        'webhook-id': content.id,
        'webhook-timestamp': String(content.timestamp),
        'webhook-signature': header,
      }),
      { a: 1 },
    );
    const theirs = new Webhook(key).sign(content.id, new Date(content.timestamp * 1000), content.body);
    assert.equal(verifyWebhook(content, theirs, key), true);
    assert.equal(verifyWebhook(content, `v1a,x ${theirs}`, key), true);
    assert.equal(verifyWebhook({ ...content, body: '{"a":2}' }, theirs, key), false);
    assert.equal(verifyWebhook(content, theirs, secret()), false);
  });
});
