// (i) tessera + node:http + PostgreSQL. Statements are counted by wrapping pg's Client#query.
import { countPgStatements } from '../lib/server-common.mjs';
import { openPostgresStore } from '../lib/stores.mjs';
import { serveTesseraNode } from '../lib/tessera-node.mjs';

await countPgStatements();
await serveTesseraNode(await openPostgresStore());
