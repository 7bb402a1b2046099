// (g) tessera + node:http + Redis.
import { openRedisStore } from '../lib/stores.mjs';
import { serveTesseraNode } from '../lib/tessera-node.mjs';

await serveTesseraNode(await openRedisStore());
