// The demo with TESSERA_WEBHOOK_URL and TESSERA_WEBHOOK_SECRET: a logout through its API reaches a
// receiver that verifies the delivery with `standardwebhooks`; a bad setting stops it at start-up.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DemoClient } from './support/demo-client.js';
import { runDemoExpectingFailure, startDemoServer, type DemoServer } from './support/demo-server.js';
import { VerifyingReceiver } from './support/verifying-receiver.js';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

describe('demo: session-end webhooks', () => {
  const receiver = new VerifyingReceiver(SECRET);
  let server: DemoServer;

  before(async () => {
    await receiver.start();
    server = await startDemoServer({ env: { TESSERA_WEBHOOK_URL: receiver.url, TESSERA_WEBHOOK_SECRET: SECRET } });
  });
  after(async () => {
    await server?.dispose();
    await receiver.stop();
  });

  it('a logout is POSTed to the receiver, signed, with its reason and the user', async () => {
    const client = new DemoClient(() => server.url);
    const login = await client.login('wendy');
    assert.equal(login.status, 200);
    const current = (await client.get('/api/session')).body as { session: { id: string } };
    assert.equal((await client.post('/api/logout')).status, 204);
    await receiver.until(() => receiver.delivered.size === 1, 'the logout notice');
    const [delivery] = receiver.deliveries;
    assert.equal(delivery?.verified, true);
    assert.equal(delivery?.payload?.type, 'session.ended');
    assert.equal(delivery?.payload?.data.subject, 'wendy');
    assert.equal(delivery?.payload?.data.reason, 'logout');
    assert.equal(delivery?.payload?.data.id, current.session.id);
    assert.match(server.output, /tessera demo webhooks: session endings POSTed to http:\/\/127\.0\.0\.1:/);
  });

  it('a webhook URL without a secret, or of another scheme, stops the demo with a message', async () => {
    const noSecret = await runDemoExpectingFailure({ TESSERA_WEBHOOK_URL: receiver.url });
    assert.match(noSecret.stderr, /TESSERA_WEBHOOK_URL needs TESSERA_WEBHOOK_SECRET/);
    const ftp = await runDemoExpectingFailure({ TESSERA_WEBHOOK_URL: 'ftp://127.0.0.1/x', TESSERA_WEBHOOK_SECRET: SECRET });
    assert.match(ftp.stderr, /TESSERA_WEBHOOK_URL/);
  });
});
