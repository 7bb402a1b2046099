/**
 * The built `tessera` binary as an operator runs it (`node dist/src/cli/index.js`, `npm run build`
 * first): exit codes, `--json` on stdout alone, `--help`, and a store that is down failing fast
 * with one line on stderr.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { freePort } from './support/ports.js';

const BIN = fileURLToPath(new URL('../dist/src/cli/index.js', import.meta.url));

interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/** Runs the binary with only the environment given (no TESSERA_STORE leaking in from the shell). */
function tessera(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - started }));
  });
}

describe('the tessera binary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-bin-'));
  const store = `sqlite:${join(dir, 's.db')}`;
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 with JSON alone on stdout for every command, TESSERA_STORE or --store', async () => {
    const migrated = await tessera(['migrate', '--json'], { TESSERA_STORE: store });
    assert.equal(migrated.code, 0, migrated.err);
    assert.equal(JSON.parse(migrated.out).store, 'sqlite');
    for (const args of [
      ['sessions', 'list', '--all'],
      ['stats'],
      ['stats', '--subject', 'nobody'],
      ['cleanup'],
      ['sessions', 'revoke-all', 'nobody'],
      ['migrate', '--dry-run'],
    ]) {
      const run = await tessera([...args, '--store', store, '--json']);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.err}`);
      assert.equal(run.err, '');
      assert.doesNotThrow(() => JSON.parse(run.out), args.join(' '));
    }
    const key = await tessera(['keys', 'generate', 'k1', '--json']);
    assert.match(JSON.parse(key.out).key, /^k1:/);
  });

  it('exits 1 on an error and 2 on a usage error, with one line on stderr and nothing on stdout', async () => {
    const missing = await tessera(['sessions', 'show', 'no-such-id', '--store', store, '--json']);
    assert.deepEqual([missing.code, missing.out], [1, '']);
    assert.equal(missing.err, 'tessera: no live session "no-such-id"\n');
    for (const args of [['stats'], ['stats', '--store', store, '--frobnicate'], ['sessions', 'revoke', '--store', store]]) {
      const run = await tessera(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.out, '');
      assert.match(run.err, /^tessera: .+\n$/);
    }
    const unknown = await tessera(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /^unknown command: frobnicate/);
  });

  it('--help on every command exits 0 and prints its usage', async () => {
    for (const args of [
      ['--help'],
      ['sessions', '--help'],
      ['sessions', 'list', '--help'],
      ['stats', '--help'],
      ['cleanup', '--help'],
      ['migrate', '--help'],
      ['keys', '--help'],
    ]) {
      const run = await tessera(args);
      assert.equal(run.code, 0, args.join(' '));
      assert.match(run.out, /usage:\s+tessera /);
      assert.equal(run.err, '');
    }
  });

  it('a store that is down (a closed port) fails within a few seconds, one line on stderr, exit 1', async () => {
    const port = await freePort();
    for (const url of [`redis://127.0.0.1:${port}`, `redis-cluster://127.0.0.1:${port}`, `postgres://postgres@127.0.0.1:${port}/test`]) {
      // migrate on Redis has nothing to do and connects to nothing.
      const commands = url.startsWith('postgres') ? [['stats'], ['sessions', 'list'], ['migrate']] : [['stats'], ['sessions', 'list']];
      for (const args of commands) {
        const run = await tessera([...args, '--store', url, '--json']);
        assert.equal(run.code, 1, `${url} ${args.join(' ')}: ${run.err}`);
        assert.equal(run.out, '');
        assert.match(run.err, /^tessera: .*unavailable.*\n$/, url);
        assert.ok(run.ms < 5000, `${url} ${args.join(' ')} took ${run.ms} ms`);
      }
    }
  });

  it('a server that accepts and never answers fails within a few seconds too, not a hang', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      for (const url of [`redis://127.0.0.1:${port}`, `postgres://postgres@127.0.0.1:${port}/test`]) {
        const run = await tessera(['stats', '--store', url]);
        assert.equal(run.code, 1, `${url}: ${run.err}`);
        assert.match(run.err, /^tessera: .*unavailable.*\n$/, url);
        assert.ok(run.ms < 5000, `${url} took ${run.ms} ms`);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
