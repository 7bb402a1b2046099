// The README's Python receiver check, run as written with python3 against deliveries signed by
// tessera: a delivery signed with the receiver's secret (alone, or beside another while rotating)
// verifies; a changed body, an unknown secret and an old timestamp are refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { signWebhook } from '../src/webhooks/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Webhooks when a session ends'));
const python = /```python\n([\s\S]*?)```/.exec(section)?.[1];
const hasPython = spawnSync('python3', ['--version']).status === 0;

describe('README: verifying a webhook in Python', { skip: hasPython ? false : 'python3 is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-readme-python-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the README's function on one delivery; its answer or its error's class. */
  function check(secret: string, headers: Record<string, string>, body: string): string {
    writeFileSync(join(dir, 'receiver.py'), python as string);
    const driver = `
import json, sys
sys.path.insert(0, ${JSON.stringify(dir)})
from receiver import verify_tessera_webhook
args = json.loads(sys.stdin.read())
try:
    print(json.dumps(verify_tessera_webhook(args["secret"], args["headers"], args["body"].encode())))
except ValueError as error:
    print("refused: " + str(error))
`;
    const run = spawnSync('python3', ['-c', driver], { input: JSON.stringify({ secret, headers, body }), encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.trim();
  }

  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const other = `whsec_${randomBytes(32).toString('base64')}`;
  const body = JSON.stringify({ type: 'session.ended', timestamp: new Date().toISOString(), data: { id: 'x', subject: 'ann' } });
  const signed = (timestamp: number, secrets: string[]) => ({
    'webhook-id': 'session.ended:x',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook({ id: 'session.ended:x', timestamp, body }, secrets),
  });
  const now = Math.floor(Date.now() / 1000);

  it('is in the README', () => assert.ok(python?.includes('def verify_tessera_webhook')));

  it('accepts a delivery signed with its secret, alone or beside another', () => {
    assert.deepEqual(JSON.parse(check(secret, signed(now, [secret]), body)), JSON.parse(body));
    assert.deepEqual(JSON.parse(check(secret, signed(now, [other, secret]), body)), JSON.parse(body));
  });

  it('refuses a changed body, another secret and an old timestamp', () => {
    assert.match(check(secret, signed(now, [secret]), body.replace('ann', 'eve')), /^refused: no matching signature/);
    assert.match(check(secret, signed(now, [other]), body), /^refused: no matching signature/);
    assert.match(check(secret, signed(now - 3600, [secret]), body), /^refused: timestamp too far/);
  });
});
