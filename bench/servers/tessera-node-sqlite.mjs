// (h) tessera + node:http + SQLite (better-sqlite3, a file in the temp folder).
import { openSqliteStore } from '../lib/stores.mjs';
import { serveTesseraNode } from '../lib/tessera-node.mjs';

await serveTesseraNode(await openSqliteStore());
