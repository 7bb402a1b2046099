/**
 * Opens the store named by `TESSERA_STORE`. The scheme switch lives here alone, so adding
 * `redis://`, `redis-cluster://` or `postgres://` later is one more case.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SessionStore } from 'tessera';
import { ConfigError } from './config.js';

export interface OpenedStore {
  store: SessionStore;
  /** What to show on the page and in the start-up log, e.g. `sqlite:./data/tessera.db`. */
  label: string;
  /** The kind of store, for the "as the store holds it" panel. */
  kind: 'sqlite' | 'memory';
}

const SUPPORTED = 'sqlite:PATH (default sqlite:./data/tessera.db) or memory:';

/** Imports a store module only when it is used, so `memory:` needs no SQLite driver installed. */
async function importStore<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new ConfigError(`TESSERA_STORE: the ${what} store could not be loaded (${(error as Error).message}); use TESSERA_STORE=memory: or install its driver`);
  }
}

export async function openStore(spec: string): Promise<OpenedStore> {
  const colon = spec.indexOf(':');
  const scheme = colon === -1 ? '' : spec.slice(0, colon).toLowerCase();
  const rest = colon === -1 ? '' : spec.slice(colon + 1);
  switch (scheme) {
    case 'sqlite': {
      if (rest.length === 0) throw new ConfigError(`TESSERA_STORE: sqlite needs a file path, e.g. sqlite:./data/tessera.db`);
      if (rest.startsWith('//')) throw new ConfigError(`TESSERA_STORE: write sqlite:PATH (for example sqlite:./data/tessera.db or sqlite:/var/lib/tessera.db), got ${JSON.stringify(spec)}`);
      const { SqliteStore } = await importStore('SQLite', () => import('tessera/stores/sqlite'));
      // The store creates its table but not the directory the file lives in.
      if (rest !== ':memory:') mkdirSync(dirname(resolve(rest)), { recursive: true });
      return { store: new SqliteStore({ path: rest }), label: `sqlite:${rest}`, kind: 'sqlite' };
    }
    case 'memory': {
      if (rest.length > 0) throw new ConfigError(`TESSERA_STORE: memory takes no argument; write memory:`);
      const { MemoryStore } = await importStore('memory', () => import('tessera/stores/memory'));
      return { store: new MemoryStore(), label: 'memory:', kind: 'memory' };
    }
    case 'redis':
    case 'rediss':
    case 'redis-cluster':
    case 'postgres':
    case 'postgresql':
      throw new ConfigError(`TESSERA_STORE: ${scheme}:// is not available in this version of the demo yet; use ${SUPPORTED}`);
    default:
      throw new ConfigError(`TESSERA_STORE: unknown store ${JSON.stringify(spec)}; use ${SUPPORTED}`);
  }
}
