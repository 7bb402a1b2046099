// Compiles test/types/express-property/ on its own: an app that declares another request property
// for the session (its declaration would change Express.Request for every other file, so the main
// type check leaves that folder out). A failed expectation there, or an unused @ts-expect-error,
// fails this test with tsc's message.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

it('an app that puts the session at req.tessera beside express-session compiles, and only as declared', () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', 'express-property')], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
