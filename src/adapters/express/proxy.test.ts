import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { errorHandler, session } from './index.js';

// Well-formed, never issued: each one presented counts as a failure for the brute-force limiter.
const UNKNOWN_TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;
// The client wrote 6.6.6.6 itself; the one proxy in front of the app appended the address it saw.
const FORGED = '6.6.6.6, 203.0.113.9';
const REAL = '203.0.113.9';

interface Seen {
  ip: string | null;
  createdIp: string | null;
  reqIp: string | null;
  reqSecure: boolean;
}

/** An Express app on 127.0.0.1 with the given `trust proxy`; POST logs in and reports what each side saw. */
async function startApp(trustProxy: unknown, bruteForceLimit?: number) {
  const manager = new SessionManager({
    store: new MemoryStore(),
    clock: new ManualClock(),
    cleanupInterval: false,
    ...(bruteForceLimit === undefined ? {} : { bruteForceLimit }),
  });
  const bruteForceIps: string[] = [];
  manager.on('bruteForce', (event) => void bruteForceIps.push(event.ip));
  const app = express();
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy);
  app.use(session(manager));
  app.get('/', (_req, res) => {
    res.json({});
  });
  app.post('/', async (req, res) => {
    await req.session.login('alice');
    const [listed] = (await req.sessions.list('alice', { currentId: req.session.id })).sessions;
    const seen: Seen = {
      ip: req.session.info?.lastDevice.ip ?? null,
      createdIp: listed?.createdDevice.ip ?? null,
      reqIp: req.ip ?? null,
      reqSecure: req.secure,
    };
    await req.sessions.revokeAll('alice');
    res.json(seen);
  });
  app.use(errorHandler());
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const login = async (headers: Record<string, string>) => {
    const res = await fetch(base, { method: 'POST', headers });
    assert.equal(res.status, 200);
    return { seen: (await res.json()) as Seen, setCookie: res.headers.get('set-cookie') ?? '' };
  };
  const presentUnknownToken = (headers: Record<string, string>) =>
    fetch(base, { headers: { cookie: `tessera=${UNKNOWN_TOKEN}`, ...headers } }).then((res) => res.arrayBuffer());
  const close = () => {
    server.close();
    manager.close();
  };
  return { login, presentUnknownToken, close, bruteForceIps };
}

describe('express adapter behind a proxy: Express decides the client address', () => {
  const settings: Array<[string, unknown]> = [
    ['1', 1],
    ["'loopback'", 'loopback'],
    ['subnets', '127.0.0.1/8, 10.0.0.0/8'],
    ['a function', (address: string) => address === '127.0.0.1'],
  ];
  for (const [label, trustProxy] of settings) {
    it(`records req.ip, not a forged leftmost X-Forwarded-For entry (trust proxy ${label})`, async () => {
      const app = await startApp(trustProxy);
      try {
        const { seen } = await app.login({ 'x-forwarded-for': FORGED });
        assert.deepEqual(seen, { ip: REAL, createdIp: REAL, reqIp: REAL, reqSecure: false });
      } finally {
        app.close();
      }
    });
  }

  it('follows a hop count of 2 (trust proxy 2)', async () => {
    const app = await startApp(2);
    try {
      const { seen } = await app.login({ 'x-forwarded-for': `6.6.6.6, ${REAL}, 10.0.0.2` });
      assert.equal(seen.reqIp, REAL);
      assert.equal(seen.ip, REAL);
    } finally {
      app.close();
    }
  });

  it('uses the socket address when the socket is not a trusted proxy', async () => {
    for (const trustProxy of [undefined, false, '10.0.0.0/8']) {
      const app = await startApp(trustProxy);
      try {
        const { seen, setCookie } = await app.login({ 'x-forwarded-for': FORGED, 'x-forwarded-proto': 'https' });
        assert.deepEqual(
          seen,
          { ip: '127.0.0.1', createdIp: '127.0.0.1', reqIp: '127.0.0.1', reqSecure: false },
          `trust proxy ${String(trustProxy)}`,
        );
        assert.doesNotMatch(setCookie, /Secure/, `trust proxy ${String(trustProxy)}`);
      } finally {
        app.close();
      }
    }
  });

  it('a forged leftmost entry changes nothing: the device and the limiter see one address', async () => {
    const app = await startApp(1, 2);
    try {
      const forgeries = ['6.6.6.6', '1.1.1.1', '127.0.0.1', 'unknown', '9.9.9.9, 8.8.8.8'];
      for (const forged of forgeries) {
        const { seen } = await app.login({ 'x-forwarded-for': `${forged}, ${REAL}` });
        assert.equal(seen.ip, REAL, `forged ${forged}`);
        assert.equal(seen.createdIp, REAL, `forged ${forged}`);
      }
      // A client that rotates the forged entry must not get a fresh allowance each time.
      for (const forged of forgeries.slice(0, 3)) await app.presentUnknownToken({ 'x-forwarded-for': `${forged}, ${REAL}` });
      assert.deepEqual(app.bruteForceIps, [REAL]);
    } finally {
      app.close();
    }
  });
});

describe('express adapter behind a proxy: Express decides HTTPS', () => {
  it('X-Forwarded-Proto https from the trusted hop: Secure cookie with the __Host- prefix', async () => {
    const app = await startApp(1);
    try {
      const { seen, setCookie } = await app.login({ 'x-forwarded-proto': 'https' });
      assert.equal(seen.reqSecure, true);
      assert.match(setCookie, /^__Host-tessera=[^;]+;.*; Secure/);
    } finally {
      app.close();
    }
  });

  it('the cookie is Secure exactly when req.secure is true', async () => {
    for (const trustProxy of [1, 'loopback', false, '10.0.0.0/8']) {
      const app = await startApp(trustProxy);
      try {
        for (const proto of ['https', 'http', 'https, http', 'http, https']) {
          const { seen, setCookie } = await app.login({ 'x-forwarded-proto': proto });
          const label = `trust proxy ${String(trustProxy)}, X-Forwarded-Proto ${proto}`;
          assert.equal(/; Secure/.test(setCookie), seen.reqSecure, label);
          assert.equal(setCookie.startsWith('__Host-tessera='), seen.reqSecure, label);
        }
      } finally {
        app.close();
      }
    }
  });

  it('Express 5 reads the leftmost X-Forwarded-Proto entry, and tessera follows it (see README, Behind a proxy)', async () => {
    // Pinned so that the README stays true: a proxy that appends to X-Forwarded-Proto lets a client
    // choose this value; the one affected is that client's own cookie.
    const app = await startApp(1);
    try {
      const { seen, setCookie } = await app.login({ 'x-forwarded-proto': 'https, http' });
      assert.equal(seen.reqSecure, true);
      assert.match(setCookie, /^__Host-tessera=/);
    } finally {
      app.close();
    }
  });
});
