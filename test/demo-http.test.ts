// The demo's HTTP helpers (demo/http.ts), which are the demo's own and not part of the package.
// They run against the build: demo/http.ts imports `tessera-session` by its package name, which resolves
// to `dist/` (build first: npx tsc -p tsconfig.build.json).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { TooManyRequestsError, UpdateConflictError } from 'tessera-session';
import { readJson, sendError, sendJson } from '../demo/http.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('demo HTTP helpers: an error answered before the body was read', () => {
  it('closes the connection (Connection: close, then the socket ends) instead of leaving the next request waiting behind the body', async () => {
    const server = createServer((req, res) => {
      readJson(req, 1024).then(
        () => sendJson(res, 200, {}),
        (error: unknown) => sendError(res, error),
      );
    });
    // Long enough that only the server choosing to close can end the connection in this test.
    server.keepAliveTimeout = 120_000;
    const port = await listen(server);
    const socket = connect(port, '127.0.0.1');
    try {
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      const ended = new Promise<void>((resolve) => socket.once('end', resolve));
      const body = 'x'.repeat(1024 * 1024);
      socket.write(
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}GET / HTTP/1.1\r\nHost: a\r\n\r\n`,
      );
      const guard = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 20_000).unref());
      assert.equal(await Promise.race([ended, guard]), undefined, `the server left the connection open; it sent:\n${received}`);
      assert.match(received, /^HTTP\/1\.1 400 /);
      assert.match(received, /\r\nConnection: close\r\n/i);
    } finally {
      socket.destroy();
      server.close();
    }
  });
});

describe('demo HTTP helpers: JSON in and out', () => {
  it('readJson refuses other content types, invalid JSON and oversized bodies as 400s; sendError drops a cookie the failed request had set', async () => {
    const server = createServer((req, res) => {
      res.setHeader('set-cookie', ['tessera=abc; Path=/']);
      readJson(req, 64).then(
        (body) => sendJson(res, 200, { body: body ?? null }),
        (error: unknown) => sendError(res, error),
      );
    });
    const base = `http://127.0.0.1:${await listen(server)}`;
    try {
      const post = (body: string, type = 'application/json') => fetch(base, { method: 'POST', body, headers: { 'content-type': type } });
      const ok = await post('{"a":1}');
      assert.deepEqual([ok.status, await ok.json()], [200, { body: { a: 1 } }]);
      for (const [body, type, message] of [
        ['{"a":1}', 'text/plain', 'expected Content-Type: application/json'],
        ['{', 'application/json', 'invalid JSON'],
        [`"${'x'.repeat(100)}"`, 'application/json', 'request body over 64 bytes'],
      ] as const) {
        const res = await post(body, type);
        assert.equal(res.status, 400);
        assert.deepEqual(await res.json(), { error: { code: 'BAD_REQUEST', message } });
        assert.equal(res.headers.get('set-cookie'), null);
        assert.equal(res.headers.get('cache-control'), 'no-store');
      }
    } finally {
      server.close();
    }
  });

  it("sendError answers tessera errors with their own headers (a 429's clearing cookie), anything else as a bare 500", async () => {
    const errors = [
      new TooManyRequestsError(30, 'slow down', { setCookie: 'tessera=; Max-Age=0; Path=/' }),
      new UpdateConflictError(),
      new Error('secret detail'),
    ];
    const server = createServer((req, res) => {
      res.setHeader('set-cookie', ['tessera=abc; Path=/']);
      req.resume();
      sendError(res, errors[Number(req.url?.slice(1))]);
    });
    const base = `http://127.0.0.1:${await listen(server)}`;
    try {
      const limited = await fetch(`${base}/0`);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '30');
      assert.deepEqual(limited.headers.getSetCookie(), ['tessera=; Max-Age=0; Path=/']);
      const conflict = await fetch(`${base}/1`);
      assert.equal(conflict.status, 409);
      assert.deepEqual(conflict.headers.getSetCookie(), []);
      const internal = await fetch(`${base}/2`);
      assert.deepEqual([internal.status, await internal.json()], [500, { error: { code: 'INTERNAL', message: 'internal error' } }]);
    } finally {
      server.close();
    }
  });
});
