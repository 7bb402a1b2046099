import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type ErrorRequestHandler } from 'express';
import {
  InvalidValueError,
  ManualClock,
  SessionManager,
  StoreUnavailableError,
  type JsonValue,
  type StoreOperation,
} from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { errorHandler, session } from './index.js';

const DRIVER_ERROR = 'a statement the client gave up on is still running on the PostgreSQL server';

describe('express adapter: what a failure tells the client and the app', () => {
  let broken = false;
  const reports: Array<{ error: unknown; operation: StoreOperation }> = [];
  const reachedApp: unknown[] = [];
  const store = new Proxy(new MemoryStore(), {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return async (...args: unknown[]) => {
        if (broken)
          throw new StoreUnavailableError(DRIVER_ERROR, { cause: new Error('Connection terminated unexpectedly'), retryAfter: 2 });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const manager = new SessionManager({
    store,
    clock: new ManualClock(),
    cleanupInterval: false,
    onStoreError: (error, { operation }) => {
      reports.push({ error, operation });
    },
  });
  const app = express();
  app.use(session(manager));
  app.post('/login', async (req, res) => {
    await req.session.login('alice');
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    res.json({ subject: req.session.subject });
  });
  app.post('/remember', async (req, res) => {
    // An app bug: a Date is not JSON.
    await req.session.set('since', new Date() as unknown as JsonValue);
    res.json({ ok: true });
  });
  app.use(errorHandler());
  // The app's own handler, after errorHandler(): a bug reaches it (errorHandler() passes it on).
  app.use(((error, _req, res, _next) => {
    reachedApp.push(error);
    res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
  }) as ErrorRequestHandler);
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

  it('a store outage: 503 saying only that the store is unavailable; the cause reaches onStoreError', async () => {
    const login = await fetch(`${base}/login`, { method: 'POST' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    reports.length = 0;
    broken = true;
    try {
      const res = await fetch(`${base}/me`, { headers: { cookie } });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '2');
      const body = await res.text();
      assert.deepEqual(JSON.parse(body), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
      assert.doesNotMatch(body, /PostgreSQL|statement|terminated/);
    } finally {
      broken = false;
    }
    assert.equal(reports.length, 1);
    assert.equal(reports[0]?.operation, 'load');
    assert.equal((reports[0]!.error as Error).message, DRIVER_ERROR);
    assert.match(String((reports[0]!.error as Error).cause), /Connection terminated unexpectedly/);
  });

  it("a value that is not JSON: a bug, passed on by errorHandler() to the app's handler", async () => {
    const res = await fetch(`${base}/remember`, { method: 'POST' });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: { code: 'INTERNAL', message: 'internal error' } });
    assert.ok(reachedApp.at(-1) instanceof InvalidValueError);
  });
});
