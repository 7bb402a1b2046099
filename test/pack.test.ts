// Packs tessera as `npm publish` would and uses the tarball as an app that installed it would. The
// pack runs in a copy of the working tree without dist/, so the tarball holds what `prepack`
// builds, as on a fresh clone. The scratch app installs the tarball and its peers from the npm
// cache that `npm ci` filled; better-sqlite3 gets the addon this repository built, as
// prebuild-install would download it (GitHub is not reachable from every machine that runs this).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));
const modules = realpathSync(join(root, 'node_modules'));

interface PackedPackage {
  version: string;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  repository?: { type: string; url: string };
  homepage?: string;
  bugs?: { url: string };
  keywords?: string[];
  engines?: { node: string };
}

/** The version of a package this repository installed, so that the scratch app finds it in the npm cache. */
function installed(name: string): string {
  return (JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')) as { version: string }).version;
}

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

/** The working tree as a clone would have it (tracked files and new ones git does not ignore), without dist/. */
function copyWorkingTree(to: string): void {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  for (const file of listed.split('\0')) {
    if (file === '' || !existsSync(join(root, file))) continue; // deleted but not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(root, file), join(to, file));
  }
  symlinkSync(modules, join(to, 'node_modules'), 'dir');
}

/** The relative targets of README.md's Markdown links and HTML hrefs, without their #fragments. */
function relativeLinks(markdown: string): string[] {
  const targets = [
    ...[...markdown.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...markdown.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/gm)].map((m) => m[1]!),
    ...[...markdown.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g)].map((m) => m[1]!),
  ];
  return targets
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#') && !target.startsWith('//'))
    .map((target) => posix.normalize(decodeURI(target.replace(/[#?].*$/, '')).replace(/^\//, '')).replace(/\/$/, ''));
}

/** Starts the app on a free loopback port; resolves with its base URL once it listens. */
function listen(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`the app did not listen within 60 s\n${out}`)), 60_000);
    const exited = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new Error(`the app exited (${code ?? signal}) before listening\n${out}`));
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.off('exit', exited);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(match[1]!);
      }
    });
    child.once('exit', exited);
  });
}

describe('the packed package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-pack-'));
  const app = join(dir, 'app');
  let files: string[] = [];
  let pkg: PackedPackage;
  let readme = '';

  before(() => {
    const stage = join(dir, 'clone');
    copyWorkingTree(stage);
    const out = npm(['pack', '--json', '--pack-destination', dir], stage);
    // The prepack build may print before the JSON.
    const packed = JSON.parse(out.slice(out.search(/^\[/m))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed[0]!.files.map((f) => f.path).sort();
    pkg = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as PackedPackage;
    readme = readFileSync(join(stage, 'README.md'), 'utf8');

    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
    npm(
      [
        'install',
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        join(dir, packed[0]!.filename),
        `express@${installed('express')}`,
        `better-sqlite3@${installed('better-sqlite3')}`,
      ],
      app,
    );
    const addon = join('build', 'Release', 'better_sqlite3.node');
    mkdirSync(dirname(join(app, 'node_modules', 'better-sqlite3', addon)), { recursive: true });
    copyFileSync(join(modules, 'better-sqlite3', addon), join(app, 'node_modules', 'better-sqlite3', addon));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the build, the docs and the license, and no tests, demo, examples or bench', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/core/index.js', 'dist/src/core/index.d.ts']) {
      assert.ok(files.includes(file), `the tarball holds ${file}`);
    }
    // tsc emits no HTML, CSS or plain JS from src/: the build copies the admin console beside its handler.
    for (const file of ['index.html', 'console.css', 'console.js']) {
      assert.ok(files.includes(`dist/src/admin/console/${file}`), `the tarball holds the admin console's ${file}`);
    }
    const docs = execFileSync('git', ['ls-files', 'docs'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.ok(docs.length > 0);
    for (const doc of docs) assert.ok(files.includes(doc), `the tarball holds ${doc}`);
    const unwanted = files.filter((f) => /\.test\./.test(f) || /^(demo|bench|test|examples|scripts|dist\/demo|\.ci)\//.test(f));
    assert.deepEqual(unwanted, []);
  });

  it('finds the relative links of a Markdown file', () => {
    const text = [
      'See [security](docs/security.md#cookies), [the API](./docs/api/ "reference"), [npm](https://www.npmjs.com/)',
      'and [the top](#top), <a href="CHANGELOG.md">changes</a>, [license][l].',
      '',
      '[l]: LICENSE',
    ].join('\n');
    assert.deepEqual(relativeLinks(text).sort(), ['CHANGELOG.md', 'LICENSE', 'docs/api', 'docs/security.md']);
  });

  it('holds every file the README links to', () => {
    const missing = relativeLinks(readme).filter((link) => !files.includes(link) && !files.some((f) => f.startsWith(`${link}/`)));
    assert.deepEqual(missing, []);
  });

  it('holds the file each export and the bin name', () => {
    const targets = Object.values(pkg.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry)));
    for (const target of [...targets, ...Object.values(pkg.bin)]) {
      assert.ok(files.includes(posix.normalize(target)), `the tarball holds ${target}`);
    }
  });

  it('says where it lives, how to report a bug, what it is about and which Node it needs', () => {
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
    const home = pkg.repository!.url.replace(/^git\+/, '').replace(/\.git$/, '');
    assert.equal(pkg.homepage, `${home}#readme`);
    assert.equal(pkg.bugs?.url, `${home}/issues`);
    assert.ok((pkg.keywords ?? []).includes('session'));
    assert.match(pkg.engines?.node ?? '', /^>=20\.19(\.0)?$/);
  });

  it('runs examples/express from an app that installed the tarball: login, counter, logout', async () => {
    copyFileSync(join(root, 'examples', 'express', 'app.ts'), join(app, 'app.ts'));
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), 'app.ts'], {
      cwd: app,
      env: { ...process.env, PORT: '0', SESSIONS_DB: join(app, 'sessions.db') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const base = await listen(child);
      const post = (path: string, cookie?: string, body?: unknown) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
      const login = await post('/login', undefined, { username: 'alice', password: 'wonderland' });
      assert.equal(login.status, 200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      assert.match(cookie, /^tessera=.+/);
      for (const items of [1, 2]) assert.deepEqual(await (await post('/cart', cookie)).json(), { items });
      assert.equal((await post('/logout', cookie)).status, 204);
      const stale = await fetch(`${base}/me/sessions`, { headers: { cookie } });
      assert.equal(stale.status, 401);
      assert.equal(((await stale.json()) as { error: { code: string } }).error.code, 'NO_SESSION');
      assert.ok(existsSync(join(app, 'sessions.db')), 'the sessions live in the SQLite file the app was given');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('loads with require() from CommonJS (require of ES modules)', () => {
    writeFileSync(
      join(app, 'require.cjs'),
      [
        "const { SessionManager } = require('tessera-session');",
        "const { MemoryStore } = require('tessera-session/stores/memory');",
        "const { session } = require('tessera-session/adapters/express');",
        'const manager = new SessionManager({ store: new MemoryStore() });',
        "console.log(typeof session, manager instanceof SessionManager ? 'manager' : 'none');",
        'manager.close();',
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['require.cjs'], { cwd: app, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'function manager');
  });

  it('installs the tessera command', () => {
    const run = spawnSync(join(app, 'node_modules', '.bin', 'tessera'), ['help'], { cwd: app, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^usage: tessera <command>/);
    assert.match(run.stdout, /^ {2}sessions list\|show\|revoke\|revoke-all /m);
    assert.match(run.stdout, /^ {2}keys generate /m);
  });
});
