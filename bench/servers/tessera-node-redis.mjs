// (g) tessera + node:http + Redis; (m) with the session cache on (BENCH_CACHE).
import { openRedisStore } from '../lib/stores.mjs';
import { serveTesseraNode } from '../lib/tessera-node.mjs';

await serveTesseraNode(await openRedisStore());
