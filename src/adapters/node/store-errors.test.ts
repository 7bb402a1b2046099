import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ManualClock, SessionManager, StoreUnavailableError, errorResponse, type StoreOperation } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { loadSession } from './index.js';

const DRIVER_ERROR = 'ERR: READONLY You cannot write against a read only replica (10.0.0.9:6379)';

/** The test app's answers: errors as the core maps them, the rest as JSON. */
function answer(res: ServerResponse, body: unknown, error?: unknown): void {
  const { status, headers, body: json } = error === undefined ? { status: 200, headers: {}, body } : errorResponse(error);
  res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(json));
}

describe('node adapter: a store outage', () => {
  it('is answered 503 with only "the session store is unavailable"; the cause goes to onStoreError', async () => {
    /** The store operations that fail. */
    const failing = new Set<string | symbol>();
    const memory = new MemoryStore();
    const store = new Proxy(memory, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function' || property === 'close') return value;
        return async (...args: unknown[]) => {
          if (failing.has(property)) throw new StoreUnavailableError(DRIVER_ERROR, { cause: new Error('READONLY') });
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const reports: Array<{ error: unknown; operation: StoreOperation }> = [];
    const manager = new SessionManager({
      store,
      clock: new ManualClock(),
      cleanupInterval: false,
      onStoreError: (error, { operation }) => {
        reports.push({ error, operation });
      },
    });
    const server = createServer((req, res) => {
      loadSession(manager, req, res)
        .then(async (session) => {
          if (req.url === '/count') return answer(res, { n: await session.increment('n') });
          answer(res, { subject: session.subject });
        })
        .catch((error: unknown) => answer(res, null, error));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const first = await fetch(`${base}/count`, { method: 'POST' });
      const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
      // A failed load, and a write that fails after the session loaded.
      for (const [path, operation] of [
        ['/me', 'load'],
        ['/count', 'apply'],
      ] as const) {
        failing.clear();
        failing.add(operation);
        const res = await fetch(`${base}${path}`, { method: 'POST', headers: { cookie } });
        assert.equal(res.status, 503, path);
        const body = await res.text();
        assert.deepEqual(JSON.parse(body), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
        assert.doesNotMatch(body, /READONLY|replica|6379/);
      }
      assert.deepEqual(
        reports.map((r) => r.operation),
        ['load', 'apply'],
      );
      assert.ok(reports.every((r) => (r.error as Error).message === DRIVER_ERROR && String((r.error as Error).cause).includes('READONLY')));
    } finally {
      server.close();
      manager.close();
    }
  });
});
