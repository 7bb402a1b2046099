import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { errorHandler, session } from './index.js';

describe('express adapter: the Idempotency-Key header', () => {
  const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
  const app = express();
  app.use(session(manager));
  app.post('/login', async (req, res) => {
    await req.session.login('alice');
    res.json({});
  });
  app.post('/count', async (req, res) => {
    res.json({ value: await req.session.increment('n') });
  });
  app.use(errorHandler());
  let base = '';
  const server = app.listen(0, '127.0.0.1');
  before(async () => {
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    manager.close();
  });

  async function loggedIn(): Promise<string> {
    const login = await fetch(`${base}/login`, { method: 'POST' });
    return (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
  }

  const count = async (cookie: string, key?: string) => {
    const res = await fetch(`${base}/count`, {
      method: 'POST',
      headers: { cookie, ...(key !== undefined ? { 'idempotency-key': key } : {}) },
    });
    return { status: res.status, body: (await res.json()) as { value?: number; error?: { code: string } } };
  };

  it('applies a retried request once: the same key answers the same value, a new key counts again', async () => {
    const cookie = await loggedIn();
    assert.deepEqual(await count(cookie, 'retry-1'), { status: 200, body: { value: 1 } });
    assert.deepEqual(await count(cookie, 'retry-1'), { status: 200, body: { value: 1 } }, 'the retry is not applied again');
    assert.deepEqual(await count(cookie, 'retry-2'), { status: 200, body: { value: 2 } });
    assert.deepEqual(await count(cookie), { status: 200, body: { value: 3 } }, 'without a key every request counts');
  });

  it('answers a malformed key with 400 and applies nothing', async () => {
    const cookie = await loggedIn();
    for (const key of ['has space', 'x'.repeat(201)]) {
      const res = await count(cookie, key);
      assert.equal(res.status, 400, key);
      assert.equal(res.body.error?.code, 'BAD_REQUEST');
    }
    assert.deepEqual(await count(cookie), { status: 200, body: { value: 1 } });
  });
});
