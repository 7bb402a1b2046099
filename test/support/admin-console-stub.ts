/**
 * A stand-in for the admin handler, for the console's browser test while the real one is built
 * alongside: the page from src/admin/console at `/admin/`, and the admin API's contract (issue 23)
 * at `/admin/api/…` over a MemoryStore-backed manager. Mutating routes answer 403 without
 * `Sec-Fetch-Site: same-origin`, as the real handler does, so the test shows the page's own
 * requests carry that proof.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionManager, type SessionInfo } from '../../src/core/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

const CONSOLE_DIR = new URL('../../src/admin/console/', import.meta.url);
const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

export interface ConsoleStub {
  url: string;
  manager: SessionManager;
  /** Every mutating request's method, path and Sec-Fetch-Site, in order. */
  mutations: { method: string; path: string; fetchSite: string | null }[];
  /** Logs `subject` in from a new device. */
  login(subject: string, displayName: string, device: { ip: string; userAgent: string }): Promise<void>;
  dispose(): Promise<void>;
}

function view(info: SessionInfo) {
  return {
    id: info.id,
    subject: info.subject,
    displayName: info.displayName,
    createdAt: new Date(info.createdAt).toISOString(),
    lastSeenAt: new Date(info.lastSeenAt).toISOString(),
    expiresAt: new Date(info.expiresAt).toISOString(),
    absoluteExpiresAt: new Date(info.absoluteExpiresAt).toISOString(),
    ip: info.lastDevice.ip,
    userAgent: info.lastDevice.userAgent,
    createdIp: info.createdDevice.ip,
    createdUserAgent: info.createdDevice.userAgent,
    dataFields: [],
  };
}

export async function startConsoleStub(): Promise<ConsoleStub> {
  const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false, bruteForceLimit: false });
  const recent = { created: 0, loggedIn: 0, revoked: { logout: 0, user: 0, admin: 0, evicted: 0 }, expired: 0, windowSeconds: 3600 };
  manager.subscribe((event) => {
    if (event.type === 'created') recent.created++;
    else if (event.type === 'loggedIn') recent.loggedIn++;
    else if (event.type === 'expired') recent.expired++;
    else if (event.type === 'revoked' && event.reason in recent.revoked) recent.revoked[event.reason as keyof typeof recent.revoked]++;
  });
  const mutations: ConsoleStub['mutations'] = [];

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) => send(res, status, { error: { code, message } });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stub');
    const path = url.pathname;
    if (req.method === 'GET' && (path === '/admin/' || /^\/admin\/console\.(css|js)$/.test(path))) {
      const file = path === '/admin/' ? 'index.html' : path.slice('/admin/'.length);
      res.writeHead(200, { 'content-type': TYPES[file] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(await readFile(new URL(file, CONSOLE_DIR)));
      return;
    }
    if (req.method !== 'GET') {
      const fetchSite = typeof req.headers['sec-fetch-site'] === 'string' ? req.headers['sec-fetch-site'] : null;
      mutations.push({ method: req.method ?? '', path, fetchSite });
      if (fetchSite !== 'same-origin') return fail(res, 403, 'forbidden', 'no same-origin proof');
    }
    let match: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/admin/api/sessions') {
      const p = url.searchParams;
      const limit = Number(p.get('limit') ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) return fail(res, 400, 'bad_request', 'limit must be 1..200');
      const page = await manager.query({
        ...(p.get('subject') ? { subject: p.get('subject') as string } : {}),
        ...(p.get('q') ? { displayNamePrefix: p.get('q') as string } : {}),
        ...(p.get('id') ? { id: p.get('id') as string } : {}),
        cursor: p.get('cursor') || null,
        limit,
      });
      return send(res, 200, { sessions: page.sessions.map(view), nextCursor: page.nextCursor });
    }
    if (req.method === 'GET' && path === '/admin/api/stats') {
      return send(res, 200, { live: await manager.count(), subjects: null, recent });
    }
    if ((match = /^\/admin\/api\/sessions\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(match[1] as string);
      if (req.method === 'GET') {
        const info = await manager.get(id);
        return info === null ? fail(res, 404, 'not_found', 'no such session') : send(res, 200, { session: view(info) });
      }
      if (req.method === 'DELETE') return (await manager.revoke(id)) ? send(res, 204) : fail(res, 404, 'not_found', 'no such session');
    }
    if (req.method === 'DELETE' && (match = /^\/admin\/api\/subjects\/([^/]+)\/sessions$/.exec(path))) {
      return send(res, 200, { revoked: await manager.revokeAll(decodeURIComponent(match[1] as string)) });
    }
    fail(res, 404, 'not_found', 'no such route');
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => fail(res, 500, 'internal', error.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/admin/`,
    manager,
    mutations,
    async login(subject, displayName, device) {
      const session = await manager.load({ secure: false, ip: device.ip, userAgent: device.userAgent });
      await session.login(subject, { displayName });
    },
    async dispose() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      manager.close();
    },
  };
}
