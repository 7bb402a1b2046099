import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { InvalidOptionError, ManualClock, SessionManager, errorResponse } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { clientIp, isSecureRequest, loadSession, type NodeSessionOptions } from './index.js';

// Well-formed, never issued: each one presented counts as a failure for the brute-force limiter.
const UNKNOWN_TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;
// The client wrote 6.6.6.6 itself; the one proxy in front of the app appended the address it saw.
const FORGED = '6.6.6.6, 203.0.113.9';
const REAL = '203.0.113.9';

interface Reply {
  status: number;
  setCookie: string;
  body: { ip?: string | null; createdIp?: string | null };
}

/** The test app's answers: errors as the core maps them, the rest as JSON. */
function answer(res: ServerResponse, body: unknown, error?: unknown): void {
  const { status, headers, body: json } = error === undefined ? { status: 200, headers: {}, body } : errorResponse(error);
  res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(json));
}

/** A node:http app on 127.0.0.1 that logs in on POST and only loads the session otherwise. */
async function startApp(options: NodeSessionOptions, managerOptions: { bruteForceLimit?: number } = {}) {
  const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false, ...managerOptions });
  const bruteForceIps: string[] = [];
  manager.on('bruteForce', (event) => void bruteForceIps.push(event.ip));
  const server = createServer((req, res) => {
    loadSession(manager, req, res, options)
      .then(async (session) => {
        if (req.method !== 'POST') return answer(res, {});
        await session.login('alice');
        const [listed] = (await manager.list('alice', { currentId: session.id })).sessions;
        answer(res, { ip: session.info?.lastDevice.ip ?? null, createdIp: listed?.createdDevice.ip ?? null });
        await manager.revokeAll('alice');
      })
      .catch((error: unknown) => answer(res, null, error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const send = (method: 'GET' | 'POST', headers: OutgoingHttpHeaders) =>
    new Promise<Reply>((resolve, reject) => {
      // node:http rather than fetch: an array value goes out as separate header lines.
      const req = request({ host: '127.0.0.1', port, method, path: '/', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            setCookie: res.headers['set-cookie']?.join('\n') ?? '',
            body: text === '' ? {} : (JSON.parse(text) as Reply['body']),
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });
  const close = () => {
    server.close();
    manager.close();
  };
  return { send, close, bruteForceIps };
}

/** A request as far as the helpers read it; a destroyed socket has no remoteAddress. */
function fakeRequest(
  headers: IncomingMessage['headers'],
  socket: { remoteAddress?: string; encrypted?: boolean } = { remoteAddress: '10.0.0.1' },
): IncomingMessage {
  return { headers, socket } as unknown as IncomingMessage;
}

describe('node adapter behind a proxy: the client address', () => {
  it('records the address the trusted proxy appended, not a forged leftmost X-Forwarded-For entry', async () => {
    const app = await startApp({ trustProxy: true });
    try {
      const reply = await app.send('POST', { 'x-forwarded-for': FORGED });
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body, { ip: REAL, createdIp: REAL });
    } finally {
      app.close();
    }
  });

  it('keys the brute-force limiter on the address the trusted proxy appended', async () => {
    const app = await startApp({ trustProxy: 1 }, { bruteForceLimit: 2 });
    try {
      for (let i = 0; i < 3; i++) await app.send('GET', { cookie: `tessera=${UNKNOWN_TOKEN}`, 'x-forwarded-for': FORGED });
      assert.deepEqual(app.bruteForceIps, [REAL]);
    } finally {
      app.close();
    }
  });

  it('a forged leftmost entry changes nothing: the device and the limiter see one address', async () => {
    const app = await startApp({ trustProxy: true }, { bruteForceLimit: 2 });
    try {
      const forgeries = ['6.6.6.6', '1.1.1.1', '127.0.0.1', 'unknown', '9.9.9.9, 8.8.8.8'];
      for (const forged of forgeries) {
        const reply = await app.send('POST', { 'x-forwarded-for': `${forged}, ${REAL}` });
        assert.deepEqual(reply.body, { ip: REAL, createdIp: REAL }, `forged ${forged}`);
      }
      // A client that rotates the forged entry must not get a fresh allowance each time.
      for (const forged of forgeries.slice(0, 3))
        await app.send('GET', { cookie: `tessera=${UNKNOWN_TOKEN}`, 'x-forwarded-for': `${forged}, ${REAL}` });
      assert.deepEqual(app.bruteForceIps, [REAL]);
    } finally {
      app.close();
    }
  });

  it('counts trustProxy hops from the right, as Express does', async () => {
    const two = await startApp({ trustProxy: 2 });
    try {
      // CDN then load balancer: the CDN appended the client, the balancer appended the CDN.
      assert.equal((await two.send('POST', { 'x-forwarded-for': `6.6.6.6, ${REAL}, 10.0.0.2` })).body.ip, REAL);
      // Fewer entries than hops: the leftmost one.
      assert.equal((await two.send('POST', { 'x-forwarded-for': REAL })).body.ip, REAL);
    } finally {
      two.close();
    }
  });

  it('uses the socket address when trustProxy is off', async () => {
    for (const trustProxy of [undefined, false, 0] as const) {
      const app = await startApp(trustProxy === undefined ? {} : { trustProxy });
      try {
        assert.equal((await app.send('POST', { 'x-forwarded-for': FORGED })).body.ip, '127.0.0.1', `trustProxy ${String(trustProxy)}`);
      } finally {
        app.close();
      }
    }
  });

  it('reads several X-Forwarded-For header lines as one list', async () => {
    const app = await startApp({ trustProxy: 1 });
    try {
      assert.equal((await app.send('POST', { 'x-forwarded-for': ['6.6.6.6', REAL] })).body.ip, REAL);
      assert.equal((await app.send('POST', { 'x-forwarded-for': ['6.6.6.6, 7.7.7.7', ` ${REAL} `] })).body.ip, REAL);
    } finally {
      app.close();
    }
  });

  it('clientIp takes the entry trustProxy hops from the right and never throws on odd input', () => {
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': FORGED }), true), REAL);
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': FORGED }), 2), '6.6.6.6');
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': FORGED }), 5), '6.6.6.6');
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': FORGED })), '10.0.0.1');
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': `6.6.6.6,,  ,${REAL} ,` }), 1), REAL);
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': ' , ,' }), 1), '10.0.0.1');
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': '' }), 1), '10.0.0.1');
    assert.equal(clientIp(fakeRequest({}), 3), '10.0.0.1');
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': ['6.6.6.6', REAL] as unknown as string }), 1), REAL);
    assert.equal(clientIp(fakeRequest({}, {}), 1), null);
    assert.equal(clientIp(fakeRequest({ 'x-forwarded-for': REAL }, {}), 1), REAL);
  });

  it('refuses a trustProxy that is not a hop count', () => {
    for (const trustProxy of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => clientIp(fakeRequest({}), trustProxy), InvalidOptionError, String(trustProxy));
      assert.throws(() => isSecureRequest(fakeRequest({}), trustProxy), InvalidOptionError, String(trustProxy));
    }
  });
});

describe('node adapter behind a proxy: HTTPS', () => {
  it('believes X-Forwarded-Proto from the trusted proxy: Secure cookie with the __Host- prefix', async () => {
    const app = await startApp({ trustProxy: true });
    try {
      const reply = await app.send('POST', { 'x-forwarded-proto': 'https' });
      assert.match(reply.setCookie, /^__Host-tessera=[^;]+;.*; Secure/);
    } finally {
      app.close();
    }
  });

  it('ignores a forged leftmost X-Forwarded-Proto entry', async () => {
    const app = await startApp({ trustProxy: true });
    try {
      const reply = await app.send('POST', { 'x-forwarded-proto': 'https, http' });
      assert.match(reply.setCookie, /^tessera=/);
      assert.doesNotMatch(reply.setCookie, /Secure/);
    } finally {
      app.close();
    }
  });

  it('ignores X-Forwarded-Proto when trustProxy is off', async () => {
    const app = await startApp({});
    try {
      const reply = await app.send('POST', { 'x-forwarded-proto': 'https' });
      assert.match(reply.setCookie, /^tessera=/);
      assert.doesNotMatch(reply.setCookie, /Secure/);
    } finally {
      app.close();
    }
  });

  it('isSecureRequest applies the same hop rule to X-Forwarded-Proto', () => {
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'https' }), true), true);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': ' HTTPS ' }), 1), true);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'https, http' }), 1), false);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'http, https' }), 1), true);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'http, https, http' }), 2), true);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'https, http, http' }), 2), false);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': ['http', 'https'] as unknown as string }), 1), true);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'https' })), false);
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': ',,' }), 1), false);
    assert.equal(isSecureRequest(fakeRequest({}, { remoteAddress: '10.0.0.1', encrypted: true })), true);
    assert.equal(isSecureRequest(fakeRequest({}, { remoteAddress: '10.0.0.1', encrypted: true }), 1), true);
    // TLS from the proxy to the app says nothing of the client's leg, which the proxy reports.
    assert.equal(isSecureRequest(fakeRequest({ 'x-forwarded-proto': 'http' }, { remoteAddress: '10.0.0.1', encrypted: true }), 1), false);
  });
});
