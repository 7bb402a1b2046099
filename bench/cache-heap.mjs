// Heap bytes per cached session: `node --expose-gc bench/cache-heap.mjs N`, one process per N
// (run.mjs runs it for 10,000 and 100,000). A session cache (`cachedStore`, the one managers with
// `cache` share) in front of a store that keeps nothing: each load answers a record made the way a
// store's decoder makes one, every string its own copy (as node-redis and pg hand them over), with
// two small fields (`theme: "dark"`, `n: 42`), a subject, and a desktop Chrome User-Agent on both
// devices. The cache is filled with N of them by N loads; `heapUsed` after full collections,
// before and after, divided by N, is the heap each cached session costs, beside the cache's own
// estimate (`cacheStats().bytes / entries`). Prints one line of JSON. With `distinct-agents` as the
// second argument, every session has a User-Agent of its own (the worst case for the cache's
// sharing of device strings); without it, all share one browser build's.
import { randomBytes } from 'node:crypto';

const N = Number(process.argv[2] ?? 10_000);
const DISTINCT_AGENTS = process.argv[3] === 'distinct-agents';
if (typeof globalThis.gc !== 'function') {
  console.log(JSON.stringify({ error: 'run with node --expose-gc' }));
  process.exit(1);
}

const { SessionManager, cachedStore } = await import('tessera-session');

const USER_AGENT = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const IDLE_SECONDS = 1800;
const t0 = Date.now();

/** A string of its own with `text`'s characters, as a decoder reading a reply makes it. */
const fresh = (text) => Buffer.from(text, 'latin1').toString('latin1');

/** The record a store answers for `id`, fresh: like `decodeHash`, data values parsed from their JSON. */
function decoded(id, i) {
  const data = Object.create(null);
  data.theme = JSON.parse(fresh('"dark"'));
  data.n = JSON.parse(fresh('42'));
  const createdAt = t0 - 60_000 - (i % 1000);
  return {
    id,
    secretHash: randomBytes(16).toString('base64url').slice(0, 22),
    subject: fresh(`user-${i}`),
    displayName: null,
    createdAt,
    lastSeenAt: t0 - (i % 1000),
    idleTimeout: IDLE_SECONDS,
    absoluteExpiresAt: createdAt + 30 * 86_400_000,
    expiresAt: t0 - (i % 1000) + IDLE_SECONDS * 1000,
    authenticatedAt: createdAt,
    version: 3,
    data,
    createdDevice: { ip: fresh('127.0.0.1'), userAgent: fresh(agent(i)) },
    lastDevice: { ip: fresh('127.0.0.1'), userAgent: fresh(agent(i)) },
    renewedAt: createdAt,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
  };
}

/** One browser build's User-Agent, or one of each session's own (same length). */
const agent = (i) => (DISTINCT_AGENTS ? `${USER_AGENT.slice(0, -8)}${String(i).padStart(8, '0')}` : USER_AGENT);

let served = 0;
/** A store that keeps nothing: what it answers is held by the cache alone. */
const store = {
  capabilities: { invalidation: 'none' },
  async load(id) {
    return decoded(id, served++);
  },
  async create() {
    return { status: 'created', evicted: [] };
  },
  async apply() {
    return { status: 'gone' };
  },
  async delete() {
    return null;
  },
  async deleteExpired() {
    return [];
  },
  async close() {},
};

// maxStaleness at its largest, so that no entry goes stale while the cache fills.
const cache = cachedStore(store, { maxEntries: N, maxBytes: 2 ** 40, maxStaleness: 3_600_000 });
const manager = new SessionManager({ store: cache, idleTimeout: IDLE_SECONDS });

function heapAfterGc() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** A session id as the cookie parser slices it: 28 base64url characters, a string of its own. */
const newId = () => randomBytes(21).toString('base64url');

// A first few loads before the baseline, so that the code, its inline caches and the shapes exist
// by then; their entries stay and are counted out.
const primed = 100;
for (let i = 0; i < primed; i++) await cache.load(newId(), { now: t0 });
const before = heapAfterGc();
for (let i = 0; i < N - primed; i++) await cache.load(newId(), { now: t0 });
const after = heapAfterGc();
const stats = manager.cacheStats();
const added = N - primed;
console.log(
  JSON.stringify({
    sessions: N,
    entries: stats.entries,
    heapPerSession: (after - before) / added,
    estimatePerSession: stats.bytes / stats.entries,
    heapBefore: before,
    heapAfter: after,
    userAgentLength: USER_AGENT.length,
    distinctAgents: DISTINCT_AGENTS,
    node: process.version,
  }),
);
await manager.close();
