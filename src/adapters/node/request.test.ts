import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ManualClock, SessionManager, errorResponse } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { loadSession, requestHost } from './index.js';

/** The test app's answers: errors as the core maps them, the rest as JSON. */
function answer(res: ServerResponse, body: unknown, error?: unknown): void {
  const { status, headers, body: json } = error === undefined ? { status: 200, headers: {}, body } : errorResponse(error);
  res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(json));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('node adapter: the Idempotency-Key header', () => {
  it('reaches the core: a retried increment is applied once, a new key counts again, a malformed key is a 400', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
    const server = createServer((req, res) => {
      loadSession(manager, req, res)
        .then(async (session) => {
          if (req.url === '/login') await session.login('alice');
          answer(res, { value: req.url === '/count' ? await session.increment('n') : null });
        })
        .catch((error: unknown) => answer(res, null, error));
    });
    const base = `http://127.0.0.1:${await listen(server)}`;
    try {
      const login = await fetch(`${base}/login`, { method: 'POST' });
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const count = async (key?: string) => {
        const res = await fetch(`${base}/count`, {
          method: 'POST',
          headers: { cookie, ...(key !== undefined ? { 'idempotency-key': key } : {}) },
        });
        return [res.status, ((await res.json()) as { value?: number }).value ?? null];
      };
      assert.deepEqual(await count('k-1'), [200, 1]);
      assert.deepEqual(await count('k-1'), [200, 1], 'the retry is not applied again');
      assert.deepEqual(await count('k-2'), [200, 2]);
      assert.deepEqual(await count('bad key'), [400, null]);
      assert.deepEqual(await count(), [200, 3]);
    } finally {
      server.close();
      manager.close();
    }
  });
});

describe('node adapter: requestHost', () => {
  const fake = (headers: IncomingMessage['headers']) => ({ headers, socket: { remoteAddress: '10.0.0.1' } }) as unknown as IncomingMessage;

  it('is the Host header without trustProxy, whatever X-Forwarded-Host says', () => {
    assert.equal(requestHost(fake({ host: 'app.internal:3000', 'x-forwarded-host': 'example.com' })), 'app.internal:3000');
    assert.equal(requestHost(fake({})), null);
  });

  it('takes the X-Forwarded-Host entry at the trusted hop, as for the address and the protocol', () => {
    assert.equal(requestHost(fake({ host: 'app.internal:3000', 'x-forwarded-host': 'example.com' }), 1), 'example.com');
    assert.equal(requestHost(fake({ host: 'app.internal:3000', 'x-forwarded-host': 'forged.test, example.com' }), 1), 'example.com');
    assert.equal(requestHost(fake({ host: 'app.internal:3000', 'x-forwarded-host': 'example.com, cdn.internal' }), 2), 'example.com');
    // A proxy that passes Host through and sets no X-Forwarded-Host: the Host it sent.
    assert.equal(requestHost(fake({ host: 'example.com' }), 1), 'example.com');
    assert.equal(requestHost(fake({ host: 'example.com', 'x-forwarded-host': ' , ' }), 1), 'example.com');
  });
});
