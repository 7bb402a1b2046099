// (i) tessera + node:http + PostgreSQL; (o) with the session cache on (BENCH_CACHE).
import { countPgStatements } from '../lib/server-common.mjs';
import { openPostgresStore } from '../lib/stores.mjs';
import { serveTesseraNode } from '../lib/tessera-node.mjs';

await countPgStatements();
await serveTesseraNode(await openPostgresStore());
