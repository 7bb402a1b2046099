// Runs every *.test.ts under src/ and test/ with node's test runner, TypeScript loaded by tsx.
//
//   node scripts/run-tests.mjs [--unit] [--list] [filter...]
//
// --unit keeps the files that need no service: neither Redis, PostgreSQL nor Chromium, nor the
// build in dist/ (the demo server and the example app the end-to-end tests start run from it).
// A file is judged by what it and the local modules it imports (test/support/...) contain: a
// client import (redis, pg, playwright-core), a server binary's name (redis-server,
// valkey-server, pg_ctl, initdb, chromium), or a dist/ path. It prints what it runs and why it
// leaves each other file out. --list prints that and runs nothing. Filters keep the files whose
// path contains one of them.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const NEEDS = [
  ['Redis', /(?:\bfrom|\bimport\s*\()\s*['"](?:redis|@redis\/[\w.-]+)['"]|\b(?:redis|valkey)-server\b/],
  ['PostgreSQL', /(?:\bfrom|\bimport\s*\()\s*['"]pg['"]|\b(?:pg_ctl|pg_ctlcluster|initdb)\b/],
  ['Chromium', /(?:\bfrom|\bimport\s*\()\s*['"]playwright(?:-core)?['"]|\bchromium\b/i],
  ['the build (dist/)', /['"`]dist['"`/]|\/dist\//],
];
const LOCAL_IMPORT = /(?:\bfrom|\bimport\s*\(?)\s*['"](\.\.?\/[^'"]+)['"]/g;

/** The file and the local modules it imports, transitively (type-only imports left out). */
function closure(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, 'utf8').replace(/^import type .*$/gm, '');
  for (const [, specifier] of source.matchAll(LOCAL_IMPORT)) {
    const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
    if (target.endsWith('.ts') && existsSync(target)) closure(target, seen);
  }
  return seen;
}

/** What the file needs beyond node and the repository's sources, with the module that says so. */
function needs(file) {
  const found = [];
  for (const path of closure(resolve(file))) {
    const source = readFileSync(path, 'utf8').replace(/^import type .*$/gm, '');
    for (const [name, pattern] of NEEDS) {
      if (pattern.test(source) && !found.some((f) => f.name === name)) found.push({ name, via: relative(process.cwd(), path) });
    }
  }
  return found;
}

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const listOnly = args.includes('--list');
const filter = args.filter((a) => !a.startsWith('--'));
let files = [...find('src'), ...find('test')].sort();
if (filter.length > 0) files = files.filter((f) => filter.some((f2) => f.includes(f2)));
if (unit || listOnly) {
  const kept = [];
  const left = [];
  for (const file of files) {
    const found = unit ? needs(file) : [];
    if (found.length === 0) kept.push(file);
    else left.push(`  ${file}: ${found.map((f) => (f.via === file ? f.name : `${f.name} (via ${f.via})`)).join(', ')}`);
  }
  console.log(`running ${kept.length} test files:\n${kept.map((f) => `  ${f}`).join('\n')}`);
  if (left.length > 0) console.log(`left out ${left.length}, needing a service or the build:\n${left.join('\n')}`);
  files = kept;
  if (listOnly) process.exit(0);
}
if (files.length === 0) {
  console.error('no test files to run');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
