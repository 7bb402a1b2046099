/**
 * Issue 5 over real HTTP, on every store the demo can run on: the data endpoint, encrypted values
 * at rest, hostile cookies, no oracle, the brute-force limit, and a dump of the store afterwards
 * that holds no issued token, no secret and (with a key ring) no plaintext written through the API.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { storeTargets, type StoreInstance } from './support/store-targets.js';
import { COOKIE_NAME, DemoClient, issuedTokens, type ApiResponse } from './support/demo-client.js';
import { startDemoServer, type DemoServer } from './support/demo-server.js';

const KEYS = `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`;

function assertJsonError(res: ApiResponse, status: number, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.body ?? {}), ['error']);
  if (code !== undefined) assert.equal(res.body.error.code, code);
}

for (const target of await storeTargets()) {
  describe(`demo security over HTTP (${target.name})`, { skip: target.skip }, () => {
    let server: DemoServer;
    let store: StoreInstance;
    const plaintexts: string[] = [];
    const client = (userAgent?: string) => new DemoClient(() => server.url, userAgent);

    before(async () => {
      store = await target.create();
      server = await startDemoServer({ env: { ...store.env, TESSERA_ENCRYPTION_KEYS: KEYS, TESSERA_BRUTE_FORCE_LIMIT: '40' } });
    });
    after(async () => {
      await server?.dispose();
      await store?.cleanup();
    });

    it('PUT /api/session/data/:field stores text; odd field names are plain data; bad input is a 400', async () => {
      const alice = client();
      assert.equal((await alice.login('alice')).status, 200);
      const marker = `secret-note-${randomBytes(6).toString('hex')}`;
      plaintexts.push(marker);
      const res = await alice.put('/api/session/data/note', { value: marker });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.session.data.note, marker);
      for (const name of ['__proto__', 'constructor', 'prototype']) {
        const value = `${name}-${randomBytes(4).toString('hex')}`;
        plaintexts.push(value);
        const put = await alice.put(`/api/session/data/${name}`, { value });
        assert.equal(put.status, 200, put.text);
      }
      const read = await alice.get('/api/session');
      assert.equal(read.body.session.data.note, marker);
      assert.equal(read.body.session.data.__proto__.startsWith('__proto__-'), true);
      assert.equal(read.body.session.data.constructor.startsWith('constructor-'), true);
      const counted = await alice.post('/api/session/increment', { field: 'views' });
      assert.equal(counted.body.value, 1);
      assertJsonError(await alice.put('/api/session/data/note', { value: 'x'.repeat(1025) }), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put('/api/session/data/note', { value: 42 }), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put('/api/session/data/note', {}), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put('/api/session/data/note', { value: 'a', extra: 1 }), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put('/api/session/data/createdAt', { value: 'a' }), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put('/api/session/data/bad-name', { value: 'a' }), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put(`/api/session/data/${'a'.repeat(65)}`, { value: 'a' }), 400, 'BAD_REQUEST');
      assertJsonError(await alice.put('/api/session/data/%E0%A4%A', { value: 'a' }), 400, 'BAD_REQUEST');
      assertJsonError(
        await alice.request('PUT', '/api/session/data/note', { raw: '{"value":', contentType: 'application/json' }),
        400,
        'BAD_REQUEST',
      );
    });

    it('answers hostile cookies with the same 401 as a dead token: never a 5xx, never accepted', async () => {
      const bob = client();
      await bob.login('bob');
      const token = bob.token as string;
      const probe = async (value: string) => {
        const res = await fetch(new URL('/api/session', server.url), { headers: { cookie: `${COOKIE_NAME}=${value}` } });
        return { status: res.status, body: await res.text(), cleared: res.headers.getSetCookie().join('|') };
      };
      const variants = [
        token.slice(0, -1),
        `${token}A`,
        token + token,
        token.replace('.', ''),
        `${token.slice(0, 30)}${token[30] === 'A' ? 'B' : 'A'}${token.slice(31)}`,
        'A'.repeat(8 * 1024),
        `%00%ff%${token}`,
        encodeURIComponent('ü') + token.slice(6),
      ];
      const dead = await probe(`${token.slice(0, 28)}.${'A'.repeat(43)}`);
      assert.equal(dead.status, 401);
      for (const value of variants) {
        const seen = await probe(value);
        assert.deepEqual(seen, dead, `cookie ${JSON.stringify(value.slice(0, 60))}`);
      }
      // Raw header bytes fetch would refuse to send: control characters and non-ASCII.
      const { request } = await import('node:http');
      for (const value of [`${token.slice(0, 20)}\u0001${token.slice(21)}`, `${token.slice(0, 20)}é${token.slice(21)}`]) {
        const status = await new Promise<number>((resolve, reject) => {
          const url = new URL('/api/session', server.url);
          const req = request(
            {
              host: url.hostname,
              port: url.port,
              path: url.pathname,
              headers: { cookie: Buffer.from(`${COOKIE_NAME}=${value}`, 'latin1').toString('latin1') },
              insecureHTTPParser: true,
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        }).catch(() => 400);
        assert.ok(status === 401 || status === 400, `status ${status}`);
      }
      assert.equal((await probe(token)).status, 200, 'the real token still works');
    });

    it('gives a revoked token the same answer as an unknown one (no oracle)', async () => {
      const carol = client();
      await carol.login('carol');
      const token = carol.token as string;
      const other = carol.clone();
      assert.equal((await carol.post('/api/logout')).status, 204);
      const revoked = await other.get('/api/session');
      const unknown = await new DemoClient(() => server.url).get('/api/session', {
        headers: { cookie: `${COOKIE_NAME}=${token.slice(0, 28)}.${'B'.repeat(43)}` },
        noCookie: true,
      });
      const malformed = await new DemoClient(() => server.url).get('/api/session', {
        headers: { cookie: `${COOKIE_NAME}=nonsense` },
        noCookie: true,
      });
      for (const res of [unknown, malformed]) {
        assert.equal(res.status, revoked.status);
        assert.equal(res.text, revoked.text);
        assert.equal(res.headers.get('set-cookie'), revoked.headers.get('set-cookie'));
      }
    });

    it('past the brute-force limit (detection, the default) unknown tokens still get 401 with their cookie cleared, and valid sessions keep working', async () => {
      const dave = client();
      await dave.login('dave');
      for (let i = 0; i < 60; i++) {
        const guess = `${dave.token!.slice(0, 28)}.${randomBytes(32).toString('base64url')}`;
        const res = await new DemoClient(() => server.url).get('/api/session', {
          headers: { cookie: `${COOKIE_NAME}=${guess}` },
          noCookie: true,
        });
        assertJsonError(res, 401, 'NO_SESSION');
        assert.match(res.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0;/);
      }
      assert.equal((await dave.get('/api/session')).status, 200);
    });

    it('leaves a store that holds no issued token, no secret and no plaintext written through the API', async () => {
      const dump = await store.dump();
      assert.ok(dump.length > 0, 'the dump is not empty');
      assert.ok(issuedTokens.size > 0);
      for (const token of issuedTokens) {
        const [id, secret] = token.split('.') as [string, string];
        assert.ok(!dump.includes(secret), 'no secret in the store');
        assert.ok(!dump.includes(Buffer.from(secret, 'base64url').toString('hex')), 'no secret bytes (hex)');
        assert.ok(!dump.includes(token), 'no token in the store');
        void id;
      }
      assert.ok(plaintexts.length >= 4);
      for (const text of plaintexts) assert.ok(!dump.includes(text), `no plaintext ${text} in the store`);
      assert.match(dump, /enc1\.k2\./, 'values are ciphertext under the primary key');
    });
  });
}
