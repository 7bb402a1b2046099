// Runs every *.test.ts under src/ and test/ with node's test runner, TypeScript loaded by tsx.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...find('src'), ...find('test')].sort();
if (filter.length > 0) files = files.filter((f) => filter.some((f2) => f.includes(f2)));
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
