/**
 * The admin handler (`createAdminHandler`, authorize letting every request in: who may use it is
 * the admin API's own tests' subject) mounted at `/admin/` under node:http, over a MemoryStore
 * manager, for the console's browser test. It serves the console from src/admin/console as the
 * package does from dist, and records each mutating request's `Sec-Fetch-Site` so the test shows
 * the page's own requests carry the same-origin proof the handler asks for. It answers with a strict
 * Content-Security-Policy, which the page must keep to.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminHandler } from '../../src/admin/index.js';
import { type JsonValue, SessionManager } from '../../src/core/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

export interface ConsoleServer {
  /** The console's address, `http://127.0.0.1:PORT/admin/`. */
  url: string;
  manager: SessionManager;
  /** Every mutating request's method, path and Sec-Fetch-Site, in order. */
  mutations: { method: string; path: string; fetchSite: string | null }[];
  /** Logs `subject` in from a new device. */
  login(subject: string, displayName: string, device: { ip: string; userAgent: string }, data?: Record<string, JsonValue>): Promise<void>;
  dispose(): Promise<void>;
}

const MOUNT = '/admin';

export interface ConsoleServerOptions {
  /** As the handler takes it. */
  showData?: boolean;
  /**
   * Called with each request's path (`/admin/api/stats`, say) before the handler sees it; a promise
   * returned holds that request until it settles.
   */
  beforeAnswer?: (path: string) => Promise<void> | undefined;
}

/** Starts the handler on a free loopback port; `dispose()` stops it, connections a page holds open included. */
export async function startConsoleServer(options: ConsoleServerOptions = {}): Promise<ConsoleServer> {
  const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false, bruteForceLimit: false });
  const admin = createAdminHandler({ manager, authorize: () => true, showData: options.showData === true });
  const mutations: ConsoleServer['mutations'] = [];

  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (url !== MOUNT && !url.startsWith(`${MOUNT}/`)) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const fetchSite = req.headers['sec-fetch-site'];
      mutations.push({ method: req.method ?? '', path: url, fetchSite: typeof fetchSite === 'string' ? fetchSite : null });
    }
    // The strictest policy an app may put in front of the console: no inline script or style, no
    // other origin. A violation is a console error the browser test fails on.
    res.setHeader(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    // Mounted as Express mounts it: the handler reads the path relative to the mount point.
    Object.assign(req, { originalUrl: url });
    req.url = url.slice(MOUNT.length) || '/';
    admin(req, res);
  };
  const server: Server = createServer((req, res) => {
    const held = options.beforeAnswer?.(req.url ?? '/');
    if (held === undefined) answer(req, res);
    else void held.then(() => answer(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${MOUNT}/`,
    manager,
    mutations,
    async login(subject, displayName, device, data = {}) {
      const session = await manager.load({ secure: false, ip: device.ip, userAgent: device.userAgent });
      await session.login(subject, { displayName });
      for (const [key, value] of Object.entries(data)) await session.set(key, value);
    },
    async dispose() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() ends only idle connections. The console polls api/stats every 5 s, within node's
      // keep-alive timeout, so a connection that carries a request at this moment would carry the
      // next polls too and never become idle: close() would wait for as long as the page stays open.
      server.closeAllConnections();
      await closed;
      admin.close();
      manager.close();
    },
  };
}
