// Starts one of examples/<name>/app.ts as its own process, as a reader of the README would, on a
// free loopback port. The examples import tessera by its package names, which resolve to the
// build (`npm test` builds first).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = new URL('../..', import.meta.url);
const built = new URL('../../dist/src/core/index.js', import.meta.url);

/** What a started example gives: its process, its base URL, and everything it printed so far. */
export interface StartedExample {
  child: ChildProcess;
  base: string;
  output: () => string;
}

/** Resolves with the child and its base URL once the example prints that it listens. */
export function startExample(app: string, env: Record<string, string>): Promise<StartedExample> {
  assert.ok(existsSync(built), 'the example imports tessera from the build: run `npm run build` first (`npm test` does)');
  const child = spawn(process.execPath, ['--import', 'tsx', app], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${app} did not listen within 30 s\n${out}${err}`)), 30_000);
    const exited = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new Error(`${app} exited (${code ?? signal}) before listening\n${out}${err}`));
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.off('exit', exited);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve({ child, base: match[1] as string, output: () => `${out}${err}` });
      }
    });
    child.once('exit', exited);
  });
}

/** Stops the example if a test left it running. */
export function stopExample(child: ChildProcess | undefined): void {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
