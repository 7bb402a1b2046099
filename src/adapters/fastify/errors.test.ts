import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify';
import {
  InvalidOptionError,
  InvalidValueError,
  ManualClock,
  SessionManager,
  TesseraError,
  type JsonValue,
  type SessionManagerOptions,
} from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../../testing/index.js';
import { errorHandler, requireAuth, session } from './index.js';

// Well-formed, never issued.
const UNKNOWN_TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;
const CLEARING = /^tessera=; Max-Age=0; Path=\//;

function setCookies(res: LightMyRequestResponse): string[] {
  const value = res.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** An app whose routes fail in the ways a tessera app meets, with the store breakable at will. */
async function startApp(options: Partial<SessionManagerOptions> = {}, server: FastifyServerOptions = {}) {
  let broken = false;
  const manager = new SessionManager({
    store: faultyStore(new MemoryStore(), () => broken, 3),
    clock: new ManualClock(),
    cleanupInterval: false,
    ...options,
  });
  const app = Fastify(server);
  await app.register(session, { manager });
  app.post('/login', async (request) => {
    await request.session.login('alice');
    return {};
  });
  app.get('/me', (request) => ({ subject: request.session.subject }));
  app.get('/sessions', { preHandler: requireAuth() }, (request) => request.session.listSessions());
  app.post('/login-then-outage', async (request) => {
    await request.session.login('bob');
    broken = true;
    await request.session.set('x', 1);
    return {};
  });
  app.post('/first-write-then-outage', async (request) => {
    await request.session.set('cart', 1);
    broken = true;
    await request.session.set('x', 1);
    return {};
  });
  app.post('/logout-then-outage', async (request) => {
    await request.session.logout();
    broken = true;
    return { live: await request.sessions.count() };
  });
  app.post('/revoked-meanwhile', async (request) => {
    // Another device revokes this session while the request runs; its next write finds it gone.
    await request.sessions.revoke(request.session.id as string);
    await request.session.set('x', 1);
    return {};
  });
  app.post('/own-cookie-then-outage', async (request, reply) => {
    reply.header('set-cookie', 'theme=dark; Path=/');
    broken = true;
    await request.session.set('x', 1);
    return {};
  });
  app.post('/not-json', async (request) => {
    await request.session.set('since', new Date() as unknown as JsonValue);
    return {};
  });
  app.post('/bug', () => {
    throw new Error('a bug at /srv/app.js:12');
  });
  app.post('/misconfigured', () => {
    throw new InvalidOptionError('a store without SessionIndex');
  });
  await app.ready();
  return {
    app,
    manager,
    repair: () => {
      broken = false;
    },
    breakStore: () => {
      broken = true;
    },
    async cookie(): Promise<string> {
      const login = await app.inject({ method: 'POST', url: '/login' });
      return (setCookies(login)[0] ?? '').split(';')[0] as string;
    },
    post: (url: string, cookie?: string) => app.inject({ method: 'POST', url, headers: cookie ? { cookie } : {} }),
  };
}

describe("fastify errorHandler: tessera's errors and the session cookie", () => {
  let t: Awaited<ReturnType<typeof startApp>>;
  before(async () => {
    t = await startApp();
  });
  after(() => t.app.close());

  it('a store outage while loading: 503 with Retry-After, JSON, no stack, and the cookie kept (not a logout)', async () => {
    const cookie = await t.cookie();
    t.breakStore();
    try {
      const res = await t.app.inject({ method: 'GET', url: '/me', headers: { cookie } });
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['retry-after'], '3');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.deepEqual(res.json(), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
      assert.doesNotMatch(res.body, /at |store down/);
      assert.deepEqual(setCookies(res), []);
    } finally {
      t.repair();
    }
    const after = await t.app.inject({ method: 'GET', url: '/me', headers: { cookie } });
    assert.deepEqual(after.json(), { subject: 'alice' }, 'the session outlived the outage');
  });

  it('requireAuth(): 401 NO_SESSION, and a stale token is cleared', async () => {
    const anonymous = await t.app.inject({ method: 'GET', url: '/sessions' });
    assert.equal(anonymous.statusCode, 401);
    assert.deepEqual(anonymous.json(), { error: { code: 'NO_SESSION', message: 'the session is not logged in' } });
    assert.deepEqual(setCookies(anonymous), []);
    const stale = await t.app.inject({ method: 'GET', url: '/sessions', headers: { cookie: `tessera=${UNKNOWN_TOKEN}` } });
    assert.equal(stale.statusCode, 401);
    assert.equal(setCookies(stale).length, 1);
    assert.match(setCookies(stale)[0] as string, CLEARING);
    const ok = await t.app.inject({ method: 'GET', url: '/sessions', headers: { cookie: await t.cookie() } });
    assert.equal(ok.statusCode, 200);
    assert.equal((ok.json() as { sessions: unknown[] }).sessions.length > 0, true);
  });

  it('keeps the cookie that clears a session revoked while the request ran (401 SESSION_ENDED)', async () => {
    const res = await t.post('/revoked-meanwhile', await t.cookie());
    assert.equal(res.statusCode, 401);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'SESSION_ENDED');
    assert.match(setCookies(res)[0] ?? '', CLEARING);
  });

  it('keeps the cookie of a logout that came before a store outage (503)', async () => {
    const cookie = await t.cookie();
    try {
      const res = await t.post('/logout-then-outage', cookie);
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['retry-after'], '3');
      assert.equal(setCookies(res).length, 1);
      assert.match(setCookies(res)[0] as string, CLEARING);
    } finally {
      t.repair();
    }
  });

  it('drops a token issued before the error: a login, or a first write', async () => {
    for (const url of ['/login-then-outage', '/first-write-then-outage']) {
      try {
        const res = await t.post(url);
        assert.equal(res.statusCode, 503, url);
        assert.deepEqual(setCookies(res), [], url);
        assert.equal(res.headers['cache-control'], 'no-store', url);
      } finally {
        t.repair();
      }
    }
  });

  it("leaves the app's own cookies alone", async () => {
    try {
      const res = await t.post('/own-cookie-then-outage', await t.cookie());
      assert.equal(res.statusCode, 503);
      assert.deepEqual(setCookies(res), ['theme=dark; Path=/']);
    } finally {
      t.repair();
    }
  });

  it('a malformed Idempotency-Key is 400 BAD_REQUEST', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/login', headers: { 'idempotency-key': 'x'.repeat(201) } });
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'BAD_REQUEST');
  });

  it("anything else goes on to Fastify's own handler: a bug, INVALID_OPTION, INVALID_VALUE, a 404", async () => {
    for (const url of ['/bug', '/misconfigured', '/not-json']) {
      const res = await t.post(url);
      assert.equal(res.statusCode, 500, url);
      // Fastify's shape, not tessera's: the error went past tessera's handler.
      assert.equal((res.json() as { statusCode?: number }).statusCode, 500, url);
    }
    const missing = await t.post('/nowhere');
    assert.equal(missing.statusCode, 404);
  });
});

describe('fastify errorHandler: a 429 carries its own clearing cookie', () => {
  it('answers a blocked unknown token with 429, Retry-After and the cookie cleared once', async () => {
    const t = await startApp({ bruteForceLimit: 1, bruteForceAction: 'block' });
    try {
      const stale = { cookie: `tessera=${UNKNOWN_TOKEN}` };
      const first = await t.app.inject({ method: 'GET', url: '/me', headers: stale });
      assert.equal(first.statusCode, 200);
      const res = await t.app.inject({ method: 'GET', url: '/me', headers: stale });
      assert.equal(res.statusCode, 429);
      assert.ok(Number(res.headers['retry-after']) > 0);
      assert.equal(setCookies(res).length, 1);
      assert.match(setCookies(res)[0] as string, CLEARING);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'TOO_MANY_REQUESTS');
    } finally {
      await t.app.close();
    }
  });
});

describe("fastify errorHandler beside the app's own", () => {
  /** The routes every variant serves: one tessera error, one of the app's. */
  function routes(app: FastifyInstance, reached: unknown[]) {
    app.get('/tessera', { preHandler: requireAuth() }, () => ({}));
    app.get('/own', () => {
      throw Object.assign(new Error('teapot'), { statusCode: 418 });
    });
    app.get('/unreached', () => reached.length);
  }
  const own = (reached: unknown[]) => (error: unknown, _request: unknown, reply: FastifyReply) => {
    reached.push(error);
    return reply.code((error as { statusCode?: number }).statusCode ?? 500).send({ answeredBy: 'app' });
  };

  async function check(app: FastifyInstance, reached: unknown[], prefix = '') {
    await app.ready();
    const tessera = await app.inject({ method: 'GET', url: `${prefix}/tessera` });
    assert.equal(tessera.statusCode, 401);
    assert.deepEqual(tessera.json(), { error: { code: 'NO_SESSION', message: 'the session is not logged in' } });
    const mine = await app.inject({ method: 'GET', url: `${prefix}/own` });
    assert.equal(mine.statusCode, 418);
    assert.deepEqual(mine.json(), { answeredBy: 'app' });
    assert.equal((reached.at(-1) as Error).message, 'teapot');
    await app.close();
  }

  it('an app handler in a child scope sees errors first; one that throws a tessera error on gets the JSON answer', async () => {
    const reached: unknown[] = [];
    const app = Fastify();
    await app.register(session, { manager: new SessionManager({ store: new MemoryStore(), cleanupInterval: false }) });
    await app.register(
      async (child) => {
        child.setErrorHandler((error, request, reply) => {
          if (error instanceof TesseraError) throw error;
          return own(reached)(error, request, reply);
        });
        routes(child, reached);
      },
      { prefix: '/app' },
    );
    await check(app, reached, '/app');
  });

  it('an app handler set after the plugin in the same scope sees errors first, and passes on those it throws (Fastify warns FSTWRN004)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const reached: unknown[] = [];
      const app = Fastify();
      await app.register(session, { manager: new SessionManager({ store: new MemoryStore(), cleanupInterval: false }) });
      app.setErrorHandler((error, request, reply) => {
        if (error instanceof TesseraError) throw error;
        return own(reached)(error, request, reply);
      });
      routes(app, reached);
      await check(app, reached);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(warnings.filter((w) => (w as { code?: string }).code === 'FSTWRN004').length, 1);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('errorHandler: false, and the app calls errorHandler from its own: no FSTWRN004 warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const reached: unknown[] = [];
      const app = Fastify();
      await app.register(session, {
        manager: new SessionManager({ store: new MemoryStore(), cleanupInterval: false }),
        errorHandler: false,
      });
      app.setErrorHandler(function (error, request, reply) {
        if (error instanceof TesseraError) return errorHandler.call(this, error, request, reply);
        return own(reached)(error, request, reply);
      });
      routes(app, reached);
      await check(app, reached);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        warnings.filter((w) => (w as { code?: string }).code === 'FSTWRN004'),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('errorHandler: false leaves tessera errors to Fastify: the app handler sees them (proof the option works)', async () => {
    const app = Fastify();
    await app.register(session, {
      manager: new SessionManager({ store: new MemoryStore(), cleanupInterval: false }),
      errorHandler: false,
    });
    app.get('/tessera', { preHandler: requireAuth() }, () => ({}));
    await app.ready();
    const res = await app.inject({ method: 'GET', url: '/tessera' });
    assert.equal(res.statusCode, 401, "Fastify's default handler reads TesseraError.status");
    assert.equal((res.json() as { statusCode?: number }).statusCode, 401, "Fastify's shape");
    await app.close();
  });
});

describe('fastify errorHandler over a real connection', () => {
  it('closes the connection when it answers before the body was read', { timeout: 30_000 }, async () => {
    const t = await startApp({}, { bodyLimit: 1_000_000 });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    // With a cookie the load reads the store, and fails in onRequest, before Fastify reads the body.
    const cookie = await t.cookie();
    t.breakStore();
    try {
      const port = (t.app.server.address() as AddressInfo).port;
      const answer = await new Promise<{ status: number | undefined; connection: string | undefined }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/login',
            headers: { cookie, 'content-type': 'text/plain', 'content-length': 100_000 },
          },
          (res) => {
            resolve({ status: res.statusCode, connection: res.headers.connection });
            req.destroy();
          },
        );
        req.on('error', reject);
        req.write('x'.repeat(10));
      });
      assert.deepEqual(answer, { status: 503, connection: 'close' });
    } finally {
      t.repair();
      await t.app.close();
    }
  });
});

// Keeps InvalidValueError's import honest: /not-json throws one, and Fastify answers it.
void InvalidValueError;
