// Compiles test/types/hono-augmentation/ on its own: an app that opts into Hono's global
// `ContextVariableMap` (the declaration types every Hono context of a program, so the main type
// check leaves that folder out). A failed expectation there, or an unused @ts-expect-error, fails
// this test with tsc's message.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

it("an app that opts into Hono's ContextVariableMap gets c.get('session') typed in every context", () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', 'hono-augmentation')], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
