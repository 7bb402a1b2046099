// Session-end webhooks across processes, on each durable store (SQLite, Redis, Redis Cluster, PostgreSQL): an app
// killed between a revocation and its delivery delivers it after a restart; three instances on one
// store deliver 1,000 notices with none lost, and the duplicates are counted. The instances are
// test/support/webhook-instance.ts, each its own process on the build in dist/.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { SessionManager, type SessionStore } from '../src/core/index.js';
import { sessionWebhooks } from '../src/webhooks/index.js';
import { startExample, stopExample } from './support/example-process.js';
import { VerifyingReceiver } from './support/verifying-receiver.js';
import { webhookStoreTargets } from './support/webhook-stores.js';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const INSTANCE = 'test/support/webhook-instance.ts';

async function post(base: string, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}${path}`, { method: 'POST' });
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Resolves once `condition` holds (checked every 20 ms), or fails after 30 s naming `what`. */
async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const target of (await webhookStoreTargets()).filter((t) => t.durable)) {
  describe(`session-end webhooks across processes on ${target.name}`, { skip: target.skip }, () => {
    const receiver = new VerifyingReceiver(SECRET);
    const children: ChildProcess[] = [];
    let data: Awaited<ReturnType<typeof target.create>>;

    beforeEach(async () => {
      data = await target.create();
      receiver.deliveries.length = 0;
      receiver.held.length = 0;
      receiver.respond = () => ({ status: 204 });
      await receiver.stop();
      await receiver.start();
    });
    afterEach(async () => {
      for (const child of children.splice(0)) stopExample(child);
      await data.cleanup();
    });
    after(async () => {
      await receiver.stop();
      await target.teardown?.();
    });

    async function instance(extra: Record<string, string> = {}): Promise<string> {
      const { child, base } = await startExample(INSTANCE, { ...data.env, WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, ...extra });
      children.push(child);
      return base;
    }

    it('an app killed between a revocation and its delivery delivers it after a restart, under the same webhook-id', async () => {
      receiver.respond = () => 'hold';
      const first = await instance();
      const { id } = await post(first, '/login?subject=kim');
      assert.deepEqual(await post(first, `/revoke?id=${id}`), { revoked: true });
      await receiver.until(() => receiver.held.length === 1, 'the first attempt to arrive');
      const killed = children.pop() as ChildProcess;
      killed.kill('SIGKILL');
      await new Promise((resolve) => killed.once('exit', resolve));
      receiver.respond = () => ({ status: 204 });
      // Started later than the first instance's lease on the notice: a clock a minute ahead.
      const second = await instance({ WEBHOOK_CLOCK_OFFSET_MS: '60000' });
      await receiver.until(() => receiver.delivered.has(`session.ended:${id}`), 'the delivery after the restart');
      const attempts = receiver.deliveries.filter((d) => d.id === `session.ended:${id}`);
      assert.equal(attempts.length, 1, 'answered once (the held attempt died with its process)');
      assert.equal(attempts[0]?.verified, true);
      assert.equal(attempts[0]?.payload?.data.reason, 'admin');
      // Acknowledged after the receiver's answer: wait for the outbox to empty.
      await eventually(
        async () => (await fetch(`${second}/backlog`).then((r) => r.json() as Promise<{ count: number }>)).count === 0,
        'an empty outbox',
      );
    });

    it('three instances deliver 1,000 notices: none lost, duplicates counted', async () => {
      const store: SessionStore = data.open();
      // This process records the notices and delivers none: the three instances deliver them.
      const recording = sessionWebhooks({ url: receiver.url, secret: SECRET, deliver: false });
      const manager = new SessionManager({ store, webhooks: recording, cleanupInterval: false });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 1000; i++) {
          const session = await manager.load({ secure: false, ip: '127.0.0.1', userAgent: 'webhooks-processes' });
          await session.login(`user-${i % 50}`);
          ids.push(session.id as string);
        }
        await Promise.all([instance(), instance(), instance()]);
        for (const id of ids) assert.equal(await manager.revoke(id, 'admin'), true);
        await receiver.until(() => receiver.delivered.size === 1000, '1,000 deliveries', 120_000);
        assert.deepEqual([...receiver.delivered].sort(), ids.map((id) => `session.ended:${id}`).sort());
        assert.ok(receiver.deliveries.every((d) => d.verified));
        const duplicates = receiver.deliveries.length - 1000;
        console.log(`# ${target.name}: 3 instances delivered 1,000 notices, ${duplicates} duplicate deliveries`);
        await eventually(async () => (await manager.options.outbox?.countNotices()) === 0, 'an empty outbox');
      } finally {
        manager.close();
        await store.close();
      }
    });
  });
}
