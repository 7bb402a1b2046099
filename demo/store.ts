/** Opens the store named by `TESSERA_STORE`; the scheme switch lives here alone. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SessionStore } from 'tessera-session';
import { ConfigError } from './config.js';

export interface OpenedStore {
  store: SessionStore;
  /** What to show on the page and in the start-up log, e.g. `sqlite:./data/tessera.db`. */
  label: string;
  /** The kind of store, for the "as the store holds it" panel. */
  kind: 'sqlite' | 'memory' | 'redis' | 'redis-cluster' | 'postgres';
}

const SUPPORTED =
  'sqlite:PATH (default sqlite:./data/tessera.db), memory:, redis://HOST:PORT, redis-cluster://HOST:PORT,HOST:PORT or postgres://HOST:PORT/DB ' +
  '(redis URLs take ?prefix=NAME:, postgres URLs ?schema=NAME)';

/** Splits off a query parameter the demo understands (the drivers would not), returning the URL without it. */
function takeParam(spec: string, name: string): { url: string; value: string | null } {
  const at = spec.indexOf('?');
  if (at === -1) return { url: spec, value: null };
  const params = new URLSearchParams(spec.slice(at + 1));
  const value = params.get(name);
  params.delete(name);
  const rest = params.toString();
  return { url: spec.slice(0, at) + (rest.length > 0 ? `?${rest}` : ''), value };
}

/** A URL with the password hidden, for logs and the page. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Imports a store module only when it is used, so `memory:` needs no SQLite driver installed. */
async function importStore<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new ConfigError(
      `TESSERA_STORE: the ${what} store could not be loaded (${(error as Error).message}); use TESSERA_STORE=memory: or install its driver`,
    );
  }
}

export async function openStore(spec: string): Promise<OpenedStore> {
  const colon = spec.indexOf(':');
  const scheme = colon === -1 ? '' : spec.slice(0, colon).toLowerCase();
  const rest = colon === -1 ? '' : spec.slice(colon + 1);
  switch (scheme) {
    case 'sqlite': {
      if (rest.length === 0) throw new ConfigError(`TESSERA_STORE: sqlite needs a file path, e.g. sqlite:./data/tessera.db`);
      if (rest.startsWith('//'))
        throw new ConfigError(
          `TESSERA_STORE: write sqlite:PATH (for example sqlite:./data/tessera.db or sqlite:/var/lib/tessera.db), got ${JSON.stringify(spec)}`,
        );
      const { SqliteStore } = await importStore('SQLite', () => import('tessera-session/stores/sqlite'));
      // The store creates its table but not the directory the file lives in.
      if (rest !== ':memory:') mkdirSync(dirname(resolve(rest)), { recursive: true });
      return { store: new SqliteStore({ path: rest }), label: `sqlite:${rest}`, kind: 'sqlite' };
    }
    case 'memory': {
      if (rest.length > 0) throw new ConfigError(`TESSERA_STORE: memory takes no argument; write memory:`);
      const { MemoryStore } = await importStore('memory', () => import('tessera-session/stores/memory'));
      return { store: new MemoryStore(), label: 'memory:', kind: 'memory' };
    }
    case 'redis':
    case 'rediss': {
      const { url, value: prefix } = takeParam(spec, 'prefix');
      const { RedisStore } = await importStore('Redis', () => import('tessera-session/stores/redis'));
      const store = new RedisStore({ url, ...(prefix !== null ? { prefix } : {}) });
      return { store, label: redact(url), kind: 'redis' };
    }
    case 'redis-cluster': {
      const { url, value: prefix } = takeParam(spec, 'prefix');
      const hosts = url
        .slice('redis-cluster://'.length)
        .split(',')
        .filter((h) => h.length > 0);
      if (hosts.length === 0) throw new ConfigError('TESSERA_STORE: redis-cluster:// needs host:port,host:port of some cluster nodes');
      const { RedisStore } = await importStore('Redis', () => import('tessera-session/stores/redis'));
      const store = new RedisStore({ cluster: { rootNodes: hosts.map((h) => `redis://${h}`) }, ...(prefix !== null ? { prefix } : {}) });
      return { store, label: redact(url), kind: 'redis-cluster' };
    }
    case 'postgres':
    case 'postgresql': {
      const { url, value: schema } = takeParam(spec, 'schema');
      const { PostgresStore } = await importStore('PostgreSQL', () => import('tessera-session/stores/postgres'));
      const store = new PostgresStore({ connectionString: url, ...(schema !== null ? { schema } : {}) });
      return { store, label: redact(url), kind: 'postgres' };
    }
    default:
      throw new ConfigError(`TESSERA_STORE: unknown store ${JSON.stringify(spec)}; use ${SUPPORTED}`);
  }
}
