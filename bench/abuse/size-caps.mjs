// Issue 20, "Sessions have a size": one client writes 1,536 fields of 1 KB into its session through
// the manager (memory store), as the attack did over the demo's PUT /api/session/data/:field.
// Prints how far it got and how large the stored record became. Run after `npm run build`:
//   node bench/abuse/size-caps.mjs
import { SessionManager } from 'tessera-session';
import { MemoryStore } from 'tessera-session/stores/memory';

const FIELDS = 1536;
const store = new MemoryStore();
const manager = new SessionManager({ store, cleanupInterval: false });
const first = await manager.load({ secure: false, ip: '127.0.0.1' });
await first.login('big');
const cookie = `tessera=${first.issuedToken}`;
let written = 0;
let refused = null;
for (let i = 0; i < FIELDS; i++) {
  const session = await manager.load({ cookie, secure: false, ip: '127.0.0.1' });
  try {
    await session.set(`f${i}`, 'x'.repeat(1024));
    written++;
  } catch (error) {
    refused = `${error.code ?? error.name} (HTTP ${error.status ?? '?'}): ${error.message}`;
    break;
  }
}
const record = await store.load(first.id, { now: Date.now() });
const bytes = Buffer.byteLength(JSON.stringify(record));
console.log(
  JSON.stringify(
    { attempted: FIELDS, written, refusedAt: refused === null ? null : written + 1, refused, storedRecordBytes: bytes },
    null,
    2,
  ),
);
manager.close();
