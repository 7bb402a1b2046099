/**
 * The page and its two assets. The build compiles only TypeScript, so the files are read from
 * `demo/public` in the source tree: found by walking up from this module, which works both from
 * `dist/demo/` (after the build) and from `demo/` (run through tsx).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendJson } from './http.js';

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * No inline script anywhere: the page's code is `/app.js` and its style `/app.css`. The API is
 * same-origin, so `connect-src 'self'` is all it needs.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every response carries, API included. */
export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
}

export function findPublicDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'demo', 'public');
    if (existsSync(join(candidate, 'index.html')) && existsSync(join(dir, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`demo/public/index.html not found above ${start}`);
    dir = parent;
  }
}

export class StaticFiles {
  readonly #assets = new Map<string, Asset>();

  /** Reads the files once at start-up, so a missing file stops the server before it listens. */
  constructor(publicDir: string = findPublicDir()) {
    const files: Array<[string, string, string]> = [
      ['/', 'index.html', 'text/html; charset=utf-8'],
      ['/app.js', 'app.js', 'text/javascript; charset=utf-8'],
      ['/app.css', 'app.css', 'text/css; charset=utf-8'],
    ];
    for (const [path, file, type] of files) this.#assets.set(path, { body: readFileSync(join(publicDir, file)), type });
  }

  has(pathname: string): boolean {
    return this.#assets.has(pathname === '/index.html' ? '/' : pathname);
  }

  serve(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    req.resume();
    const asset = this.#assets.get(pathname === '/index.html' ? '/' : pathname);
    if (asset === undefined) {
      sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } }, { allow: 'GET, HEAD' });
      return;
    }
    res.statusCode = 200;
    res.setHeader('content-type', asset.type);
    res.setHeader('content-length', asset.body.length);
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
    res.setHeader('x-frame-options', 'DENY');
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}
