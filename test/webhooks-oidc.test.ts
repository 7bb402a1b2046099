// The OpenID Connect back-channel logout form: logout tokens verified with jose, as an OIDC
// relying party would.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { InvalidOptionError, ManualClock, type SessionEvent } from '../src/core/index.js';
import { BACKCHANNEL_LOGOUT_EVENT, type SessionWebhooks, sessionWebhooks, type WebhookOptions } from '../src/webhooks/index.js';
import { ArrayOutbox } from './support/array-outbox.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

let clock: ManualClock;
let outbox: ArrayOutbox;
let receiver: WebhookReceiver;
let events: SessionEvent[];
let notifier: SessionWebhooks | null;

beforeEach(async () => {
  clock = new ManualClock(Date.now());
  outbox = new ArrayOutbox();
  receiver = await WebhookReceiver.start();
  events = [];
  notifier = null;
});

afterEach(async () => {
  await receiver.close();
  await notifier?.close();
});

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = () => generateKeyPairSync('ed25519');

function start(
  format: Partial<Extract<WebhookOptions['format'], object>> & { privateKey: KeyObject | string },
  extra: Partial<WebhookOptions> = {},
) {
  notifier = sessionWebhooks({
    url: receiver.url,
    pollInterval: 3600,
    format: { type: 'oidc-backchannel-logout', issuer: 'https://id.example', audience: 'client-1', algorithm: 'ES256', ...format },
    ...extra,
  });
  notifier.start({ outbox, clock, emit: (event) => events.push(event) });
  return notifier;
}

function logoutToken(): string {
  const delivery = receiver.received.at(-1)!;
  assert.equal(delivery.headers['content-type'], 'application/x-www-form-urlencoded');
  const token = new URLSearchParams(delivery.body).get('logout_token');
  assert.ok(token);
  return token;
}

describe('OIDC back-channel logout', () => {
  for (const [algorithm, pair] of [
    ['ES256', ec],
    ['EdDSA', ed],
  ] as const) {
    it(`POSTs a logout_token signed ${algorithm}, verified with jose`, async () => {
      const { privateKey, publicKey } = pair();
      const n = start({ privateKey, algorithm, keyId: 'k1' });
      await outbox.addNotices([
        { id: 'session.ended:s1', type: 'session.ended', sessionId: 's1', subject: 'alice', reason: 'logout', at: clock.now() },
      ]);
      await n.flush();
      const token = logoutToken();
      const { payload, protectedHeader } = await jwtVerify(token, publicKey, {
        issuer: 'https://id.example',
        audience: 'client-1',
        typ: 'logout+jwt',
        algorithms: [algorithm],
        currentDate: new Date(clock.now()),
      });
      assert.deepEqual(protectedHeader, { alg: algorithm, typ: 'logout+jwt', kid: 'k1' });
      const iat = Math.floor(clock.now() / 1000);
      assert.deepEqual(payload, {
        iss: 'https://id.example',
        aud: 'client-1',
        iat,
        exp: iat + 120,
        jti: 'session.ended:s1',
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
        sub: 'alice',
        sid: 's1',
      });
      assert.equal('nonce' in payload, false);
      // Another key does not verify it.
      await assert.rejects(jwtVerify(token, pair().publicKey), /signature verification failed/);
      assert.equal(receiver.received[0]!.headers['webhook-id'], 'session.ended:s1');
      assert.equal(receiver.received[0]!.headers['webhook-signature'], undefined, 'no secret, no Standard Webhooks signature');
      assert.equal(await outbox.countNotices(), 0);
    });
  }

  it('takes a PEM key, several audiences, no kid; an anonymous session has no sub', async () => {
    const { privateKey, publicKey } = ec();
    const n = start({ privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), audience: ['a', 'b'] });
    await outbox.addNotices([
      { id: 'session.ended:s2', type: 'session.ended', sessionId: 's2', subject: null, reason: 'expired', at: clock.now() },
    ]);
    await n.flush();
    const token = logoutToken();
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', typ: 'logout+jwt' });
    const { payload } = await jwtVerify(token, publicKey, { audience: 'b', typ: 'logout+jwt', currentDate: new Date(clock.now()) });
    assert.deepEqual(payload.aud, ['a', 'b']);
    assert.equal(payload.sid, 's2');
    assert.equal('sub' in payload, false);
  });

  it('signs the form with Standard Webhooks headers too when given a secret', async () => {
    const { privateKey } = ed();
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const n = start({ privateKey, algorithm: 'EdDSA' }, { secret });
    await outbox.addNotices([
      { id: 'session.ended:s3', type: 'session.ended', sessionId: 's3', subject: 'bob', reason: 'admin', at: clock.now() },
    ]);
    await n.flush();
    const { Webhook } = await import('standardwebhooks');
    const delivery = receiver.received[0]!;
    assert.equal(new Webhook(secret).verify(delivery.body, delivery.headers, { jsonParse: false }), undefined);
  });

  it('sends no token for notices other than session.ended (drops them)', async () => {
    const n = start({ privateKey: ec().privateKey });
    await outbox.addNotices([
      { id: 'session.created:s4', type: 'session.created', sessionId: 's4', subject: null, reason: null, at: clock.now() },
    ]);
    await n.flush();
    assert.equal(receiver.received.length, 0);
    assert.equal(await outbox.countNotices(), 0);
  });

  it('refuses a key that does not fit the algorithm, a public key, or events it cannot carry', () => {
    const base = { type: 'oidc-backchannel-logout', issuer: 'https://id.example', audience: 'c' } as const;
    const url = 'https://rp.example/backchannel';
    const cases: [string, WebhookOptions][] = [
      ['EdDSA with a P-256 key', { url, format: { ...base, algorithm: 'EdDSA', privateKey: ec().privateKey } }],
      ['ES256 with an Ed25519 key', { url, format: { ...base, algorithm: 'ES256', privateKey: ed().privateKey } }],
      [
        'P-384 key',
        { url, format: { ...base, algorithm: 'ES256', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey } },
      ],
      ['public key', { url, format: { ...base, algorithm: 'ES256', privateKey: ec().publicKey } }],
      ['not PEM', { url, format: { ...base, algorithm: 'ES256', privateKey: 'nope' } }],
      ['RS256', { url, format: { ...base, algorithm: 'RS256' as never, privateKey: ec().privateKey } }],
      ['no issuer', { url, format: { ...base, issuer: '', algorithm: 'ES256', privateKey: ec().privateKey } }],
      ['no audience', { url, format: { ...base, audience: [], algorithm: 'ES256', privateKey: ec().privateKey } }],
      ['created', { url, events: { created: true }, format: { ...base, algorithm: 'ES256', privateKey: ec().privateKey } }],
    ];
    for (const [name, options] of cases) assert.throws(() => sessionWebhooks(options), InvalidOptionError, name);
  });
});
