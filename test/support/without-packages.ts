// Runs a module body in a child process in which test/support/hide-packages.mjs makes the named
// packages look uninstalled: what an app without an optional peer dependency sees.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hide = new URL('./hide-packages.mjs', import.meta.url).href;

/** A source file of the repository (`core/errors.ts`), as a string literal for a child's `import()`. */
export const source = (path: string): string => JSON.stringify(new URL(`../../src/${path}`, import.meta.url).href);

/** What `body` (an async module body) writes to stdout, run where `hidden` (comma-separated) is not installed. */
export async function runWithout(hidden: string, body: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', hide, '--import', 'tsx', '--input-type=module', '-e', body], {
    cwd: root,
    env: { ...process.env, TESSERA_HIDE: hidden },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `the child failed: ${err}`);
  return out;
}
