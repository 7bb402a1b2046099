/**
 * The demo server as an example of running in production (issue 20), over real sockets against
 * the built demo: slow requests are cut off, one address cannot take every connection, refusing an
 * oversized body closes the connection, an aborted upload is a one-line client abort, and behind a
 * TLS proxy (`TESSERA_TRUST_PROXY`) the cookie, the client address and the origin check follow the
 * proxy's headers. The memory store: nothing here depends on the store.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DemoClient } from './support/demo-client.js';
import { startDemoServer, type DemoServer } from './support/demo-server.js';

/** How long a test waits for the server to act before it calls the server stuck; never a speed check. */
const GUARD_MS = 20_000;
/** Loopback addresses other than 127.0.0.1 reach the same server as different clients. */
const OTHER_ADDRESS = '127.0.0.2';

interface Conversation {
  socket: Socket;
  /** Everything the server sent so far. */
  received: () => string;
  /** Resolves when the server ends or resets the connection. */
  closed: Promise<void>;
}

async function open(url: string, localAddress = '127.0.0.1'): Promise<Conversation> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => received, closed };
}

/** Resolves with 'closed' when the server closes the connection, 'still open' after `ms`. */
function closedWithin(conversation: Conversation, ms = GUARD_MS): Promise<'closed' | 'still open'> {
  return Promise.race([
    conversation.closed.then(() => 'closed' as const),
    new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref()),
  ]);
}

/** Waits until `count` HTTP responses have arrived, or the connection closed. */
async function responses(conversation: Conversation, count: number): Promise<string[]> {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const heads = conversation.received().match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];
    if (heads.length >= count || conversation.socket.destroyed || conversation.socket.readableEnded || Date.now() > deadline) return heads;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const GET_SESSION = 'GET /api/session HTTP/1.1\r\nHost: demo\r\n\r\n';

/** Whether a new connection from `localAddress` gets an HTTP answer; false when it is closed unanswered. */
async function served(url: string, localAddress = '127.0.0.1'): Promise<boolean> {
  const conversation = await open(url, localAddress);
  try {
    conversation.socket.write(GET_SESSION);
    return (await responses(conversation, 1)).length === 1;
  } finally {
    conversation.socket.destroy();
  }
}

describe('demo server limits over real sockets', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({
      env: { TESSERA_STORE: 'memory:', TESSERA_REQUEST_TIMEOUT: '2', TESSERA_HEADERS_TIMEOUT: '1' },
    });
  });
  after(async () => {
    await server?.dispose();
  });

  it('closes a connection that sends no request within TESSERA_HEADERS_TIMEOUT', async () => {
    const conversation = await open(server.url);
    try {
      assert.equal(await closedWithin(conversation), 'closed');
    } finally {
      conversation.socket.destroy();
    }
  });

  it('cuts off a body that arrives too slowly (TESSERA_REQUEST_TIMEOUT): 408, and the connection closes while the client is still sending', async () => {
    const conversation = await open(server.url);
    const length = 60;
    conversation.socket.write(
      `POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
    );
    let sent = 0;
    // A byte every 250 ms: the whole body would take 15 s.
    const drip = setInterval(() => {
      if (sent < length && !conversation.socket.destroyed) {
        conversation.socket.write(sent === 0 ? '{' : ' ');
        sent++;
      }
    }, 250);
    try {
      await conversation.closed;
      assert.ok(sent < length, `the server waited for the whole slow body (${sent} bytes over ${sent / 4} s)`);
      assert.match(conversation.received(), /^HTTP\/1\.1 408 /);
      const deadline = Date.now() + GUARD_MS;
      while (!server.output.includes('timed out') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(server.output, /^tessera demo: POST \/api\/login timed out before its body arrived \(408\)$/m, 'one line, no stack');
      assert.doesNotMatch(server.output, /request failed|\n\s+at /);
    } finally {
      clearInterval(drip);
      conversation.socket.destroy();
    }
  });

  it('refusing an oversized body closes the connection (Connection: close, the socket ends) instead of leaving the next request waiting', async () => {
    const body = JSON.stringify({ username: 'a', pad: 'x'.repeat(64 * 1024) });
    const cases = [
      [
        'a whole oversized body, then a keep-alive request',
        `POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}${GET_SESSION}`,
      ],
      [
        '10 MB announced, 64 KB sent',
        `POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n${body}`,
      ],
      [
        'a large body on a route that reads none',
        `GET /api/session HTTP/1.1\r\nHost: demo\r\nContent-Length: ${body.length}\r\n\r\n${body}${GET_SESSION}`,
      ],
    ];
    for (const [name, bytes] of cases) {
      const conversation = await open(server.url);
      try {
        conversation.socket.write(bytes as string);
        const [first] = await responses(conversation, 1);
        assert.match(first ?? '', /^HTTP\/1\.1 400 /, `${name}: ${conversation.received().slice(0, 300)}`);
        assert.match(conversation.received(), /\r\nConnection: close\r\n/i, `${name}: the refusal says the connection closes`);
        assert.equal(await closedWithin(conversation), 'closed', `${name}: the server ends the connection`);
      } finally {
        conversation.socket.destroy();
      }
    }
  });

  it('logs an aborted upload as one line, a client abort, not as an internal error with a stack', async () => {
    const conversation = await open(server.url);
    conversation.socket.write(
      'POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"username":',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    conversation.socket.resetAndDestroy();
    const deadline = Date.now() + GUARD_MS;
    while (!/client aborted|request failed|unexpected failure/.test(server.output) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = server.output.split('\n').filter((line) => /abort|failed|failure|^\s+at /.test(line));
    assert.deepEqual(lines, ['tessera demo: client aborted POST /api/login before its body arrived'], server.output);
    assert.equal(await served(server.url), true, 'the server carries on');
  });
});

describe('demo server: TESSERA_MAX_CONNECTIONS_PER_ADDRESS caps connections per client address', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({
      env: { TESSERA_STORE: 'memory:', TESSERA_MAX_CONNECTIONS_PER_ADDRESS: '4', TESSERA_KEEP_ALIVE_TIMEOUT: '30' },
    });
  });
  after(async () => {
    await server?.dispose();
  });

  it('one more connection from that address is closed unanswered, another address is served, a freed place is usable again', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => open(server.url)));
    try {
      for (const conversation of held) conversation.socket.write(GET_SESSION);
      for (const conversation of held) assert.equal((await responses(conversation, 1)).length, 1, 'each of the first four is served');
      assert.equal(await served(server.url), false, 'a fifth connection from the same address is refused');
      assert.equal(await served(server.url, OTHER_ADDRESS), true, 'another address is served meanwhile');
      // One of the four leaves (the server closes it after a Connection: close request).
      const leaving = held[0] as Conversation;
      leaving.socket.write('GET /api/session HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n');
      await leaving.closed;
      let again = false;
      // The server counts the connection out when its socket closes, a moment after the client sees it.
      for (let attempt = 0; attempt < 50 && !again; attempt++) {
        again = await served(server.url);
        if (!again) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(again, true, 'the freed place is usable');
    } finally {
      for (const conversation of held) conversation.socket.destroy();
    }
  });
});

describe('demo server: TESSERA_MAX_CONNECTIONS caps connections in all', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({
      env: {
        TESSERA_STORE: 'memory:',
        TESSERA_MAX_CONNECTIONS: '3',
        TESSERA_MAX_CONNECTIONS_PER_ADDRESS: '2',
        TESSERA_KEEP_ALIVE_TIMEOUT: '30',
      },
    });
  });
  after(async () => {
    await server?.dispose();
  });

  it('a connection past the cap is closed unanswered, whichever address it comes from', async () => {
    const held = await Promise.all([open(server.url), open(server.url), open(server.url, OTHER_ADDRESS)]);
    try {
      for (const conversation of held) conversation.socket.write(GET_SESSION);
      for (const conversation of held) assert.equal((await responses(conversation, 1)).length, 1);
      assert.equal(await served(server.url, '127.0.0.3'), false);
    } finally {
      for (const conversation of held) conversation.socket.destroy();
    }
  });
});

describe('demo server behind a TLS proxy (TESSERA_TRUST_PROXY=1)', () => {
  let server: DemoServer;
  const PROXY = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' };
  before(async () => {
    server = await startDemoServer({ env: { TESSERA_STORE: 'memory:', TESSERA_TRUST_PROXY: '1' } });
  });
  after(async () => {
    await server?.dispose();
  });

  it('sets a Secure cookie with the __Host- prefix when the proxy says HTTPS, and the session works with it', async () => {
    const browser = new DemoClient(() => server.url, 'proxied/1.0', { cookieName: '__Host-tessera', headers: PROXY });
    const login = await browser.login('proxied', 600);
    assert.equal(login.status, 200, login.text);
    const [cookie] = login.setCookies;
    assert.equal(cookie?.name, '__Host-tessera');
    assert.ok(cookie?.attributes.has('secure'), cookie?.raw);
    assert.equal(cookie?.attributes.get('path'), '/');
    assert.ok(!cookie?.attributes.has('domain'));
    assert.equal((await browser.get('/api/session')).status, 200);
    const logout = await browser.post('/api/logout');
    assert.equal(logout.status, 204);
    assert.equal(logout.setCookies[0]?.name, '__Host-tessera', 'logout clears the cookie it set');
  });

  it('records the client address the proxy saw, not a forged leftmost X-Forwarded-For entry', async () => {
    const browser = new DemoClient(() => server.url, 'proxied/1.0', {
      cookieName: '__Host-tessera',
      headers: { ...PROXY, 'x-forwarded-for': '6.6.6.6, 203.0.113.8' },
    });
    await browser.login('addressed', 600);
    const list = await browser.get('/api/sessions');
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      list.body.sessions.map((s: { ip: string }) => s.ip),
      ['203.0.113.8'],
    );
  });

  it('checks the Origin of a write against X-Forwarded-Host from the proxy', async () => {
    const browser = new DemoClient(() => server.url, 'proxied/1.0', {
      cookieName: '__Host-tessera',
      headers: { ...PROXY, 'x-forwarded-host': 'shop.example' },
    });
    await browser.login('origin-checked', 600);
    const same = await browser.post('/api/session/increment', { field: 'views' }, { headers: { origin: 'https://shop.example' } });
    assert.equal(same.status, 200, same.text);
    const cross = await browser.post('/api/session/increment', { field: 'views' }, { headers: { origin: 'https://evil.example' } });
    assert.equal(cross.status, 403, cross.text);
    const noForwardedHost = new DemoClient(() => server.url, 'proxied/1.0', { cookieName: '__Host-tessera', headers: PROXY });
    noForwardedHost.token = browser.token;
    assert.equal(
      (await noForwardedHost.post('/api/session/increment', { field: 'views' }, { headers: { origin: 'https://shop.example' } })).status,
      403,
    );
  });

  it('does not cap connections per socket address by default: they all come from the proxy', async () => {
    // More than the default cap of 500 per address that applies without a proxy.
    const held = await Promise.all(Array.from({ length: 550 }, () => open(server.url)));
    try {
      for (const conversation of held) conversation.socket.write(GET_SESSION);
      const answered = await Promise.all(held.map(async (conversation) => (await responses(conversation, 1)).length));
      assert.equal(answered.filter((n) => n === 1).length, 550);
    } finally {
      for (const conversation of held) conversation.socket.destroy();
    }
  });
});

describe('demo server not behind a proxy (TESSERA_TRUST_PROXY unset)', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({ env: { TESSERA_STORE: 'memory:' } });
  });
  after(async () => {
    await server?.dispose();
  });

  it('prints its limits at start-up, with the documented defaults', () => {
    assert.match(
      server.output,
      /tessera demo limits: request 15 s, headers 10 s, keep-alive 5 s, 1000 connections, 500 per address, trust proxy 0 hops\n/,
    );
  });

  it('ignores X-Forwarded-Proto, -For and -Host sent by a client', async () => {
    const browser = new DemoClient(() => server.url, 'direct/1.0', {
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'shop.example' },
    });
    const login = await browser.login('direct', 600);
    assert.equal(login.setCookies[0]?.name, 'tessera');
    assert.ok(!login.setCookies[0]?.attributes.has('secure'));
    assert.deepEqual(
      (await browser.get('/api/sessions')).body.sessions.map((s: { ip: string }) => s.ip),
      ['127.0.0.1'],
    );
    assert.equal(
      (await browser.post('/api/session/increment', { field: 'views' }, { headers: { origin: 'https://shop.example' } })).status,
      403,
    );
  });
});
