// The tessera + node:http server all store variants share: only the store differs.
import { env, importOrSkip, IDLE_SECONDS, json, listenNode, serveStats, stats } from './server-common.mjs';

/** Serves the workload routes with tessera on node:http over `store`. */
export async function serveTesseraNode(store) {
  const { manager, handler } = await tesseraNodeHandler(store);
  listenNode(handler);
  return manager;
}

/** The request handler of `serveTesseraNode`, and its manager, for a server that listens itself. */
export async function tesseraNodeHandler(store) {
  const { SessionManager } = await importOrSkip('tessera');
  const { loadSession, sendJson, sendError } = await importOrSkip('tessera/adapters/node');
  const manager = new SessionManager({ store, idleTimeout: IDLE_SECONDS });
  const handler = async (req, res) => {
    if (serveStats(req, res)) return;
    try {
      // Routed on the raw URL, as the floor and the bare server are: a URL object per request
      // would charge tessera with work the others do not do.
      if (req.url === '/inc') {
        stats.requests++;
        const session = await loadSession(manager, req, res);
        const n = await session.increment('n');
        sendJson(res, 200, { n });
      } else if (req.url === '/read') {
        stats.requests++;
        const session = await loadSession(manager, req, res);
        sendJson(res, 200, { n: session.get('n') ?? 0 });
      } else if (req.url.startsWith('/login') && req.method === 'POST') {
        const session = await loadSession(manager, req, res);
        await session.login(new URL(req.url, 'http://x').searchParams.get('user') ?? 'anonymous');
        sendJson(res, 200, { ok: true });
      } else json(res, 404, { error: 'not found' });
    } catch (error) {
      sendError(res, error);
    }
  };
  return { manager, handler };
}

export { env };
