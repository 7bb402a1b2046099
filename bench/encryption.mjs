// The cost of encrypting session data, per request, measured in-process on the memory store so
// that only tessera's own work is timed: a read-only request (load and decode) and an increment
// request (load, compare-and-set on ciphertext, re-encrypt), with and without a key ring.
// Run: npm run build && node bench/encryption.mjs   (prints a table; bounded: a fixed number of requests)
import { randomBytes } from 'node:crypto';
import { SessionManager, encryptionCodec } from 'tessera-session';
import { MemoryStore } from 'tessera-session/stores/memory';

const REQUESTS = Number(process.env.BENCH_ENCRYPTION_REQUESTS ?? 50_000);
const ROUNDS = 5;

async function measure(codec, workload) {
  const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false, ...(codec ? { codec } : {}) });
  const first = await manager.load({ secure: false });
  await first.set('note', 'a short note of about forty characters..');
  await first.set('views', 0);
  await first.login('bench-user');
  const cookie = `tessera=${first.issuedToken}`;
  const request = { cookie, secure: false, ip: '127.0.0.1', userAgent: 'bench/1.0', setCookie() {} };
  const samples = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) {
      const session = await manager.load(request);
      if (workload === 'increment') await session.increment('views');
      else session.get('note');
    }
    samples.push(Number(process.hrtime.bigint() - start) / REQUESTS / 1000);
  }
  manager.close();
  samples.sort((a, b) => a - b);
  return samples[Math.floor(ROUNDS / 2)];
}

const codec = encryptionCodec([{ id: 'k1', key: randomBytes(32) }]);
const rows = [];
for (const workload of ['read', 'increment']) {
  const plain = await measure(undefined, workload);
  const encrypted = await measure(codec, workload);
  rows.push({ workload, plain, encrypted });
}
console.log(
  `encryption cost per request (memory store, median of ${ROUNDS} × ${REQUESTS.toLocaleString('en')} requests, Node ${process.version})`,
);
console.log('| workload | plain JSON µs/req | AES-256-GCM µs/req | added µs/req |');
console.log('|---|---:|---:|---:|');
for (const r of rows)
  console.log(`| ${r.workload} | ${r.plain.toFixed(1)} | ${r.encrypted.toFixed(1)} | ${(r.encrypted - r.plain).toFixed(1)} |`);
