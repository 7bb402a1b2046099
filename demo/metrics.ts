/**
 * `GET /metrics` when `TESSERA_METRICS=on`: the manager's metrics in Prometheus text, from the
 * demo's own registry (never prom-client's global one).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import type { SessionManager } from 'tessera-session';
import { prometheusMetrics } from 'tessera-session/prometheus';

/** Serves `/metrics`; returns the handler (true when it answered) and the function that stops counting. */
export function mountMetrics(manager: SessionManager): {
  handle: (req: IncomingMessage, res: ServerResponse, pathname: string) => boolean;
  close: () => void;
} {
  const registry = new Registry();
  const close = prometheusMetrics(manager, { registry });
  const handle = (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    if (pathname !== '/metrics') return false;
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        console.error('tessera demo: metrics failed', error);
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics failed\n');
      },
    );
    return true;
  };
  return { handle, close };
}
