import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * Serves the console: `path` is relative to the mount point (`/` for the page). Resolves true
 * when it answered, false for a 404.
 */
export type ConsolePage = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

/**
 * The console's folder: `console/` next to this module (the build copies it into
 * `dist/src/admin/console/`), or else the source's `src/admin/console/`, which the package also
 * ships: the console itself has no build step.
 */
function defaultFolder(): URL {
  const beside = new URL('./console/', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL('../../../src/admin/console/', import.meta.url);
}

/**
 * The files of a folder (by default the bundled console's) with `index.html` at `/`. Only flat
 * names of known types are served, so no path can climb out of the folder.
 */
export function staticConsole(folder: URL = defaultFolder()): ConsolePage {
  const dir = fileURLToPath(folder);
  return async (req, res, path) => {
    const name = path === '/' ? 'index.html' : path.slice(1);
    const match = /^[a-z0-9][a-z0-9-]*\.([a-z]+)$/.exec(name);
    const type = match === null ? undefined : TYPES[match[1] as string];
    if (type === undefined || !existsSync(dir + name)) return false;
    const body = await readFile(dir + name);
    res.statusCode = 200;
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('content-type', type);
    res.setHeader('content-length', body.length);
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
