// The tessera + node:http server all store variants share: only the store differs, and whether
// the session cache is on (BENCH_CACHE, the `+ cache` variants).
import { env, importOrSkip, json, listenNode, managerOptions, reportCache, serveStats, stats } from './server-common.mjs';

/** Serves the workload routes with tessera on node:http over `store`. */
export async function serveTesseraNode(store) {
  const { manager, handler } = await tesseraNodeHandler(store);
  listenNode(handler);
  return manager;
}

/** The request handler of `serveTesseraNode`, and its manager, for a server that listens itself. */
export async function tesseraNodeHandler(store) {
  const { SessionManager, errorResponse } = await importOrSkip('tessera-session');
  const { loadSession } = await importOrSkip('tessera-session/adapters/node');
  const manager = new SessionManager(managerOptions(store));
  reportCache(manager);
  const handler = async (req, res) => {
    if (serveStats(req, res)) return;
    try {
      // Routed on the raw URL, as the floor and the bare server are: a URL object per request
      // would charge tessera with work the others do not do.
      if (req.url === '/inc') {
        stats.requests++;
        const session = await loadSession(manager, req, res);
        const n = await session.increment('n');
        json(res, 200, { n });
      } else if (req.url === '/read') {
        stats.requests++;
        const session = await loadSession(manager, req, res);
        json(res, 200, { n: session.get('n') ?? 0 });
      } else if (req.url.startsWith('/login') && req.method === 'POST') {
        const session = await loadSession(manager, req, res);
        await session.login(new URL(req.url, 'http://x').searchParams.get('user') ?? 'anonymous');
        json(res, 200, { ok: true });
      } else json(res, 404, { error: 'not found' });
    } catch (error) {
      const response = errorResponse(error);
      if (res.headersSent) res.destroy();
      else json(res, response.status, response.body, response.headers);
    }
  };
  return { manager, handler };
}

export { env };
