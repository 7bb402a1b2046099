// Why the Redis store cannot serve, named in its StoreUnavailableError: a refused connection, an
// unknown host, a wrong or missing password, a database index the server lacks, TLS on one side
// only, an untrusted certificate, or a server that never answers. Each against a real server (or a
// closed port, or a listener of the test's own); `ready()` and `onError` on the same cases.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StoreUnavailableError } from '../src/core/index.js';
import { RedisStore, type RedisStoreOptions } from '../src/stores/redis/index.js';
import { compileScripts } from '../src/stores/redis/scripts/index.js';
import { makeRecord } from '../src/testing/index.js';
import { RedisServers, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the Redis connection error tests`);

const PASSWORD = 'tessera-test-password';
const TIMEOUT = 300;

/** A listener on a free loopback port that does `onSocket` with each connection; counts them. */
async function listener(onSocket: (socket: Socket) => void): Promise<{ port: number; server: Server; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  return { port: address.port, server, connections: () => connections };
}

/** The error a request's load gets from a new store with `options`; the store is closed after. */
async function loadError(options: RedisStoreOptions): Promise<StoreUnavailableError> {
  const store = new RedisStore({ commandTimeout: TIMEOUT, prefix: 'connect-errors:', ...options });
  const now = Date.now();
  try {
    const loaded = await store.load(makeRecord(now).record.id, { now }).then(
      () => null,
      (error: unknown) => error,
    );
    assert.ok(loaded instanceof StoreUnavailableError, `a StoreUnavailableError, got ${String(loaded)}`);
    return loaded;
  } finally {
    await store.close();
  }
}

/** The error `ready()` rejects with, and how long it took. */
async function readyError(options: RedisStoreOptions): Promise<{ error: StoreUnavailableError; ms: number }> {
  const store = new RedisStore({ commandTimeout: TIMEOUT, prefix: 'connect-errors:', ...options });
  const started = performance.now();
  try {
    const error = await store.ready().then(
      () => null,
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof StoreUnavailableError, `a StoreUnavailableError, got ${String(error)}`);
    return { error, ms: performance.now() - started };
  } finally {
    await store.close();
  }
}

const codeOf = (error: unknown) => (error as { code?: unknown } | undefined)?.code;

describe('Redis store: why it cannot connect', { skip: skip && !requireServices ? skip : false, timeout: 60_000 }, () => {
  const servers = canSpawn ? new RedisServers() : null;
  /** A server that wants PASSWORD. */
  let port = 0;
  /** Nothing listens there. */
  let closedPort = 0;
  /** A TLS-only server, or why there is none. */
  let tlsPort: number | string = 'not started';

  before(async () => {
    assert.ok(servers, 'redis-server is on PATH');
    port = await freePort();
    await servers.start(port, ['--requirepass', PASSWORD]);
    closedPort = await freePort();
    tlsPort = await startTlsServer(servers);
  });
  after(async () => {
    await servers?.stopAll();
  });

  // Options are functions: the ports are known once `before` has run.
  const cases: Array<{ name: string; options: () => RedisStoreOptions; message: () => RegExp; cause?: (cause: unknown) => boolean }> = [
    {
      name: 'a refused connection',
      options: () => ({ url: `redis://127.0.0.1:${closedPort}` }),
      message: () => new RegExp(`connection refused by 127\\.0\\.0\\.1:${closedPort}`),
      cause: (cause) => codeOf(cause) === 'ECONNREFUSED',
    },
    {
      name: 'an unknown host',
      options: () => ({ url: 'redis://tessera-no-such-host.invalid:6379' }),
      message: () => /unknown host tessera-no-such-host\.invalid/,
      cause: (cause) => ['ENOTFOUND', 'EAI_AGAIN'].includes(String(codeOf(cause))),
    },
    {
      name: 'a wrong password',
      options: () => ({ url: `redis://:not-the-password@127.0.0.1:${port}` }),
      message: () => /authentication failed/,
      cause: (cause) => /WRONGPASS/.test((cause as Error).message),
    },
    {
      name: 'a missing password',
      options: () => ({ url: `redis://127.0.0.1:${port}` }),
      message: () => /authentication required.*password/,
      // NOAUTH, or for a command of many arguments (a script's), the limit on unauthenticated ones.
      cause: (cause) => /NOAUTH|unauthenticated multibulk length/.test((cause as Error).message),
    },
    {
      name: 'a database index the server lacks',
      options: () => ({ url: `redis://:${PASSWORD}@127.0.0.1:${port}/999` }),
      message: () => /database 999 does not exist/,
      cause: (cause) => /DB index is out of range/.test((cause as Error).message),
    },
    {
      name: 'rediss:// against a plain server',
      options: () => ({ url: `rediss://:${PASSWORD}@127.0.0.1:${port}` }),
      // The plain server waits for the end of a command line that the TLS greeting never sends: a
      // handshake that never ends, reported by node-redis's connect timeout or the store's own.
      message: () => /TLS handshake.*if the server does not speak TLS, use a redis:\/\/ URL/,
    },
  ];

  for (const c of cases) {
    it(`names ${c.name} on a request`, async (t) => {
      const error = await loadError(c.options());
      t.diagnostic(error.message);
      assert.match(error.message, c.message());
      if (c.cause) assert.ok(c.cause(error.cause), `the cause of "${error.message}": ${String(error.cause)}`);
      // The URL's password never reaches a message.
      assert.doesNotMatch(error.message, /not-the-password|tessera-test-password/);
    });
  }

  it('names a server that accepts and never answers as a timeout, not as refused, and closes without waiting for it', async () => {
    const silent = await listener(() => {});
    const store = new RedisStore({ url: `redis://127.0.0.1:${silent.port}`, commandTimeout: TIMEOUT });
    try {
      const now = Date.now();
      await assert.rejects(store.load(makeRecord(now).record.id, { now }), (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.match(error.message, new RegExp(`no answer from 127\\.0\\.0\\.1:${silent.port} within ${TIMEOUT} ms`));
        return true;
      });
      // The handshake's commands never get their replies: close() must not wait for them.
      const closing = performance.now();
      await store.close();
      assert.ok(performance.now() - closing < TIMEOUT + 1000, `close() took ${Math.round(performance.now() - closing)} ms`);
    } finally {
      silent.server.close();
    }
  });

  it('names an untrusted certificate, and redis:// against a TLS-only server', async (t) => {
    if (typeof tlsPort === 'string') {
      t.skip(tlsPort);
      return;
    }
    const untrusted = await loadError({ url: `rediss://:${PASSWORD}@127.0.0.1:${tlsPort}` });
    t.diagnostic(untrusted.message);
    assert.match(untrusted.message, /certificate/);
    assert.match(String(codeOf(untrusted.cause)), /SELF_SIGNED|UNABLE_TO_VERIFY/);
    const plain = await loadError({ url: `redis://:${PASSWORD}@127.0.0.1:${tlsPort}` });
    t.diagnostic(plain.message);
    assert.match(plain.message, /(closed|reset).*if the server expects TLS, use a rediss:\/\/ URL/);
  });

  it('ready() resolves on a good server, with the scripts and the partition key in place', async () => {
    const prefix = 'connect-errors-ready:';
    const store = new RedisStore({ url: `redis://:${PASSWORD}@127.0.0.1:${port}`, prefix, commandTimeout: 2000 });
    try {
      await store.ready();
      const auth = ['-a', PASSWORD, '--no-auth-warning'];
      assert.equal((await servers?.cli(port, ...auth, 'EXISTS', `${prefix}partition-key`))?.trim(), '1');
      const shas = Object.values(compileScripts(false, 300_000)).map((script) => script.sha);
      const exists = (await servers?.cli(port, ...auth, 'SCRIPT', 'EXISTS', ...shas))?.trim().split('\n');
      assert.deepEqual(
        exists,
        shas.map(() => '1'),
      );
    } finally {
      await store.close();
    }
  });

  it('ready() rejects naming the cause on each bad server, within a bounded time', async () => {
    for (const c of cases) {
      const { error, ms } = await readyError(c.options());
      assert.match(error.message, c.message(), c.name);
      assert.ok(ms < TIMEOUT + 1500, `${c.name}: rejected after ${Math.round(ms)} ms`);
    }
  });

  it('reports a connection error to onError once per cause, not once per reconnect attempt', async () => {
    const hangUp = await listener((socket) => socket.destroy());
    const reported: unknown[] = [];
    try {
      const { error } = await readyError({ url: `redis://127.0.0.1:${hangUp.port}`, onError: (e) => reported.push(e) });
      assert.match(error.message, /closed the connection/);
      assert.ok(hangUp.connections() >= 2, `the client tried ${hangUp.connections()} times`);
      assert.equal(reported.length, 1);
      assert.ok(reported[0] instanceof StoreUnavailableError);
      assert.match(reported[0].message, /closed the connection/);
    } finally {
      hangUp.server.close();
    }
  });

  it('reports a connection lost after it worked, and again after it came back and was lost again', async () => {
    assert.ok(servers);
    const lostPort = await freePort();
    let server = await servers.start(lostPort);
    const reported: StoreUnavailableError[] = [];
    let heard: () => void = () => {};
    const store = new RedisStore({
      url: `redis://127.0.0.1:${lostPort}`,
      commandTimeout: 1000,
      onError: (error) => {
        reported.push(error);
        heard();
      },
    });
    /** Resolves at the next report; fails the test if none comes within 5 s. */
    const nextReport = () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no report within 5 s; reported: ${reported.map((e) => e.message)}`)), 5000);
        heard = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    try {
      await store.ready();
      assert.equal(reported.length, 0);
      let report = nextReport();
      await servers.kill(server);
      await report;
      assert.match(reported[0]?.message ?? '', /closed the connection|reset|refused/);
      assert.doesNotMatch(reported[0]?.message ?? '', /rediss:/, 'no TLS hint once the connection has worked');
      server = await servers.restart(lostPort);
      // Served again once node-redis has reconnected by itself (it retries every 100 to 250 ms).
      const now = Date.now();
      for (let i = 0; ; i++) {
        const ok = await store.load(makeRecord(now).record.id, { now }).then(
          () => true,
          () => false,
        );
        if (ok) break;
        assert.ok(i < 50, 'the store serves again after the restart');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const before = reported.length;
      report = nextReport();
      await servers.kill(server);
      await report;
      assert.ok(reported.length > before, 'the second outage is reported too');
    } finally {
      await store.close();
      await servers.kill(servers.processOn(lostPort));
    }
  });

  it('prints nothing itself, with or without onError: the errors reach the hook', async () => {
    const code = `
      const { RedisStore } = await import(${JSON.stringify(new URL('../src/stores/redis/index.ts', import.meta.url).href)});
      const url = 'redis://127.0.0.1:${closedPort}';
      const quiet = new RedisStore({ url, commandTimeout: ${TIMEOUT} });
      await quiet.ready().catch(() => {});
      await quiet.close();
      const reported = [];
      const hooked = new RedisStore({ url, commandTimeout: ${TIMEOUT}, onError: (error) => reported.push(error.message) });
      await hooked.ready().catch(() => {});
      await hooked.close();
      process.stdout.write(JSON.stringify(reported));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(err, '');
    assert.equal(exitCode, 0);
    const reported = JSON.parse(out) as string[];
    assert.equal(reported.length, 1, out);
    assert.match(reported[0] as string, /connection refused/);
  });
});

/**
 * A redis-server on a free port that speaks TLS only, with a self-signed certificate made by
 * openssl; its port, or why there is none (no openssl, or a redis-server built without TLS).
 */
async function startTlsServer(servers: RedisServers): Promise<number | string> {
  const cert = join(servers.dir, 'cert.pem');
  const key = join(servers.dir, 'key.pem');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (made.status !== 0) return `openssl could not make a certificate: ${made.stderr || made.error?.message}`;
  const port = await freePort();
  try {
    await servers.start(port, [
      '--requirepass',
      PASSWORD,
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      cert,
      '--tls-key-file',
      key,
      '--tls-ca-cert-file',
      cert,
      '--tls-auth-clients',
      'no',
    ]);
    return port;
  } catch (error) {
    return `redis-server did not start with TLS: ${(error as Error).message}`;
  }
}
