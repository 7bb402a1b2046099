// Heap bytes per cached session: bench/cache-heap.mjs in a process of its own (with --expose-gc)
// per number of sessions, once the servers are stopped.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { trackChild } from './children.mjs';
import { BENCH_DIR, childEnv } from './config.mjs';
import { log } from './log.mjs';

export const CACHE_HEAP_SESSIONS = [10_000, 100_000];

function runOnce(sessions, distinctAgents = false) {
  return new Promise((resolve, reject) => {
    const child = trackChild(
      spawn(
        process.execPath,
        ['--expose-gc', join(BENCH_DIR, 'cache-heap.mjs'), String(sessions), ...(distinctAgents ? ['distinct-agents'] : [])],
        {
          env: childEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      try {
        const result = JSON.parse(stdout.trim().split('\n').at(-1));
        if (result.error) reject(new Error(result.error));
        else resolve(result);
      } catch {
        reject(new Error(`exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      }
    });
  });
}

/** `{ runs: [{ sessions, heapPerSession, estimatePerSession, ... }] }`, or `{ runs, error }`. */
export async function measureCacheHeap() {
  const runs = [];
  try {
    for (const distinctAgents of [false, true]) {
      for (const sessions of CACHE_HEAP_SESSIONS) {
        const r = await runOnce(sessions, distinctAgents);
        runs.push(r);
        const agents = distinctAgents ? 'a User-Agent each' : 'one User-Agent';
        log(
          `cache heap ${sessions} sessions, ${agents}: ${r.heapPerSession.toFixed(0)} B per session (the cache's estimate ${r.estimatePerSession.toFixed(0)} B)`,
        );
      }
    }
    return { runs };
  } catch (error) {
    log(`cache heap: ${error.message}`);
    return { runs, error: error.message };
  }
}
