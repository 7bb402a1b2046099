// Compiles test/types/session-data-declared/ on its own: an app that declares its session data by
// declaration merging (the declaration would change every session's type in the program, so the
// main type check leaves that folder out). A failed expectation there, or an expected error that
// does not happen, fails this test with tsc's message.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

it('an app that declares SessionData gets typed get, set and increment, in the Express adapter too', () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', 'session-data-declared')], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
