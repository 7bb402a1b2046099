// Each observability module needs only its own library. tessera-session/opentelemetry runs in a
// child process in which test/support/hide-packages.mjs makes prom-client look uninstalled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWithout, source } from './support/without-packages.js';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A manager on a memory store, one login, then `read` (an expression) written to stdout. */
function loginThen(imports: string, setUp: string, read: string): string {
  return `
    const { SessionManager } = await import(${source('core/manager.ts')});
    const { MemoryStore } = await import(${source('stores/memory/index.ts')});
    ${imports}
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    ${setUp}
    const session = await manager.load({ secure: false, ip: null, setCookie: () => {} });
    await session.login('alice');
    process.stdout.write(String(${read}));
  `;
}

describe('observability modules and their optional peers', () => {
  // prom-client 15 itself depends on @opentelemetry/api (for exemplars), so an app with prom-client
  // has it installed: what matters is that tessera's module and what it imports never load it.
  it('tessera-session/prometheus and what it imports never import @opentelemetry/*', () => {
    const packages = new Set<string>();
    const visit = (file: string, seen: Set<string>) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8').replace(/^import type .*$/gm, '');
      for (const [, specifier] of text.matchAll(/(?:\bfrom|\bimport\s*\(?)\s*['"]([^'"]+)['"]/g)) {
        if (specifier === undefined) continue;
        if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier).replace(/\.js$/, '.ts'), seen);
        else if (!specifier.startsWith('node:')) packages.add(specifier);
      }
    };
    visit(fileURLToPath(new URL('../src/observability/prometheus.ts', import.meta.url)), new Set());
    assert.deepEqual([...packages], ['prom-client']);
  });

  it('tessera-session/opentelemetry works without prom-client', async () => {
    const out = await runWithout(
      'prom-client',
      loginThen(
        `const { instrumentSessions } = await import(${source('observability/opentelemetry.ts')});
         const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics');
         class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }`,
        'const reader = new Reader(); instrumentSessions(manager, { meterProvider: new MeterProvider({ readers: [reader] }) });',
        "(await reader.collect()).resourceMetrics.scopeMetrics[0].metrics.find((m) => m.descriptor.name === 'tessera.sessions.logged_in').dataPoints[0].value",
      ),
    );
    assert.equal(out, '1');
  });
});
