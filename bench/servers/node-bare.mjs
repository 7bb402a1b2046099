// (a) Bare node:http, no sessions: static JSON. The ceiling for the read workload.
import { json, listenNode, serveStats, stats } from '../lib/server-common.mjs';

const body = JSON.stringify({ n: 0 });
listenNode((req, res) => {
  if (serveStats(req, res)) return;
  if (req.url.startsWith('/login')) return json(res, 200, { ok: true });
  stats.requests++;
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
