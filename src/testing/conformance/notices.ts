import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NotifierContext, SessionNotice, SessionNotifier, SessionOutbox } from '../../core/outbox.js';
import { hasSessionOutbox } from '../../core/outbox.js';
import type { SessionManager } from '../../core/manager.js';
import type { ConformanceContext } from './context.js';

/** A notifier that delivers nothing: it keeps the outbox the manager gives it, for the test to read. */
class HeldNotifier implements SessionNotifier {
  readonly notices: { created: boolean; loggedIn: boolean };
  outbox: SessionOutbox | null = null;
  wakes = 0;
  closed = false;
  constructor(notices: { created?: boolean; loggedIn?: boolean } = {}) {
    this.notices = { created: notices.created ?? false, loggedIn: notices.loggedIn ?? false };
  }
  start(context: NotifierContext): void {
    this.outbox = context.outbox;
  }
  wake(): void {
    this.wakes++;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Every notice held, claimed at `now` (each claim hides it until `leaseUntil`). */
async function held(notifier: HeldNotifier, now: number): Promise<SessionNotice[]> {
  const outbox = notifier.outbox;
  assert.ok(outbox !== null, 'the manager started the notifier with an outbox');
  const all: SessionNotice[] = [];
  for (;;) {
    const batch = await outbox.claimNotices({ now, limit: 100, leaseUntil: now + 60_000 });
    all.push(...batch);
    if (batch.length < 100) break;
  }
  return all;
}

/** What a notice says, without its id (checked apart) and attempts. */
function said(notice: SessionNotice): string {
  return `${notice.type}:${notice.reason ?? '-'}:${notice.subject ?? '-'}@${notice.at}`;
}

/**
 * Session notices recorded through the manager (`webhooks` option), on stores that declare an
 * outbox: one `session.ended` notice for each way a session ends, with the reason the event
 * gives, recorded by the store itself; nothing without the option.
 */
export function sessionNotices(ctx: ConformanceContext): void {
  const { request, loggedIn } = ctx;
  const outboxIt = (name: string, fn: () => Promise<void>) =>
    it(name, async (t) => {
      // Behind the cache (`cachedStore`) too: it offers the store's own outbox.
      if (!hasSessionOutbox(ctx.store)) {
        t.skip('the store does not declare capabilities.outbox');
        return;
      }
      await fn();
    });

  describe('session notices through the manager', () => {
    outboxIt('one session.ended notice per ending, with the reason its event gives and the session expiry for expired ones', async () => {
      const { clock } = ctx;
      const notifier = new HeldNotifier();
      const m: SessionManager = ctx.manager({ maxSessionsPerSubject: 2, idleTimeout: 600, webhooks: notifier });
      const ended: string[] = [];
      m.subscribe((event) => {
        if (event.type === 'revoked') ended.push(`${event.session.id}:${event.reason}`);
        if (event.type === 'expired') ended.push(`${event.session.id}:expired`);
      });
      const start = clock.now();
      const first = await request(m, null);
      await first.session.login('fay');
      clock.advance(1000);
      await first.session.logout();
      const tokens: string[] = [];
      for (let i = 0; i < 3; i++) {
        tokens.push(await loggedIn(m, 'fay'));
        clock.advance(1000);
      }
      const { session: third } = await request(m, tokens[2] as string);
      assert.equal(await third.revokeSession(tokens[1]?.slice(0, 28) as string), true);
      assert.equal(await m.revoke(third.id as string), true);
      const idle = await request(m, null);
      await idle.session.login('gus', { idleTimeout: 60 });
      const gusExpiry = clock.now() + 60_000;
      clock.advance(61_000);
      assert.equal(await m.sweep(), 1);

      const notices = await held(notifier, clock.now());
      assert.deepEqual(
        notices.map((n) => `${n.sessionId}:${n.reason}`).sort(),
        [...ended].sort(),
        'exactly the sessions whose ending the events report, with the same reasons',
      );
      assert.deepEqual(notices.map(said).sort(), [
        `session.ended:admin:fay@${start + 4000}`,
        `session.ended:evicted:fay@${start + 3000}`,
        `session.ended:expired:gus@${gusExpiry}`,
        `session.ended:logout:fay@${start + 1000}`,
        `session.ended:user:fay@${start + 4000}`,
      ]);
      for (const notice of notices) {
        assert.equal(notice.id, `session.ended:${notice.sessionId}`);
        assert.equal(notice.attempts, 1, 'claimed once');
      }
      assert.ok(notifier.wakes >= notices.length, 'the notifier is woken after each ending');
      m.close();
      assert.equal(notifier.closed, true, 'closing the manager closes its notifier');
    });

    outboxIt('revokeAll records one notice per session it ends, in batches too', async () => {
      const { clock } = ctx;
      const notifier = new HeldNotifier();
      const m = ctx.manager({ webhooks: notifier });
      const tokens: string[] = [];
      for (let i = 0; i < 5; i++) tokens.push(await loggedIn(m, 'hal'));
      const keep = tokens[0]?.slice(0, 28) as string;
      assert.equal(await m.revokeAll('hal', { except: keep, reason: 'user' }), 4);
      const notices = await held(notifier, clock.now());
      assert.equal(notices.length, 4);
      assert.ok(notices.every((n) => n.reason === 'user' && n.subject === 'hal' && n.sessionId !== keep));
      assert.equal(new Set(notices.map((n) => n.sessionId)).size, 4);
    });

    outboxIt('created and logged-in notices only when asked; an anonymous session ending says subject null', async () => {
      const { clock } = ctx;
      const notifier = new HeldNotifier({ created: true, loggedIn: true });
      const m = ctx.manager({ webhooks: notifier });
      const { session } = await request(m, null);
      await session.set('a', 1);
      const anonymousId = session.id as string;
      await session.login('ivy');
      const loggedInId = session.id as string;
      const other = await request(m, null);
      await other.session.set('b', 2);
      await other.session.logout();
      // Created and logged-in notices are recorded after the fact: let them land.
      await new Promise((resolve) => setImmediate(resolve));
      const notices = await held(notifier, clock.now());
      assert.deepEqual(
        notices.map((n) => `${n.type}:${n.sessionId === anonymousId ? 'a' : n.sessionId === loggedInId ? 'l' : 'o'}`).sort(),
        ['session.created:a', 'session.created:o', 'session.ended:o', 'session.logged_in:l'],
      );
      const otherEnded = notices.find((n) => n.type === 'session.ended');
      assert.equal(otherEnded?.subject, null);
      assert.equal(otherEnded?.reason, 'logout');
    });

    outboxIt('without the webhooks option no ending records a notice', async () => {
      const { clock } = ctx;
      const m = ctx.manager({ idleTimeout: 60 });
      const token = await loggedIn(m, 'jo');
      const { session } = await request(m, token);
      await session.logout();
      await loggedIn(m, 'jo');
      clock.advance(61_000);
      assert.equal(await m.sweep(), 1);
      const notifier = new HeldNotifier();
      // A second manager on the same store, with the option, reads the outbox the first left empty.
      ctx.manager({ webhooks: notifier });
      assert.deepEqual(await held(notifier, clock.now()), []);
    });
  });
}
