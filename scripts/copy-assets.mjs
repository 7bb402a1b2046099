// Copies the files tsc does not emit (the admin console's HTML, CSS and JS) from src/ into dist/src/,
// beside the compiled handler that serves them. Run by `npm run build` after tsc.
import { cpSync, existsSync } from 'node:fs';

const ASSETS = ['src/admin/console'];

for (const dir of ASSETS) {
  if (!existsSync(dir)) throw new Error(`copy-assets: ${dir} is missing`);
  cpSync(dir, `dist/${dir}`, { recursive: true, filter: (path) => !path.endsWith('.test.ts') });
}
