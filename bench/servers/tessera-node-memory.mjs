// (extra) tessera + node:http + MemoryStore: the cost of tessera's core without any I/O.
import { openMemoryStore } from '../lib/stores.mjs';
import { serveTesseraNode } from '../lib/tessera-node.mjs';

await serveTesseraNode(await openMemoryStore());
