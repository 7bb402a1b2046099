/**
 * Opens the store a `--store` URL (or `TESSERA_STORE`) names, in the demo's URL forms. A copy of
 * the demo's scheme switch rather than a shared export: the demo may use only the package's public
 * exports, and making this a public subpath would add an API (and a package.json export) for a
 * dozen lines; the CLI also opens stores for one command, with short timeouts, not for a server.
 */
import { InvalidOptionError, type SessionStore } from '../core/index.js';

/** The store kinds the CLI opens; `memory:` is refused, a CLI process would see an empty store. */
export type StoreKind = 'sqlite' | 'redis' | 'redis-cluster' | 'postgres';

export interface StoreTarget {
  kind: StoreKind;
  /** The URL as a driver takes it, without the parameters the CLI reads itself. */
  url: string;
  /** `?prefix=` of a Redis URL, `?schema=` of a PostgreSQL one. */
  param: string | null;
  /** The SQLite file. */
  path: string;
}

export const SUPPORTED =
  'sqlite:PATH, redis://HOST:PORT, redis-cluster://HOST:PORT,HOST:PORT or postgres://HOST:PORT/DB (redis URLs take ?prefix=NAME:, postgres URLs ?schema=NAME)';

/** How long a store may take to answer its first command before the CLI gives up. */
export const CONNECT_TIMEOUT_MS = 3000;

/** Splits off a query parameter the CLI understands (the drivers would not). */
function takeParam(spec: string, name: string): { url: string; value: string | null } {
  const at = spec.indexOf('?');
  if (at === -1) return { url: spec, value: null };
  const params = new URLSearchParams(spec.slice(at + 1));
  const value = params.get(name);
  params.delete(name);
  const rest = params.toString();
  return { url: spec.slice(0, at) + (rest.length > 0 ? `?${rest}` : ''), value };
}

/** Reads a store URL; a malformed one is an `InvalidOptionError` (a usage error, exit 2). */
export function parseStoreUrl(spec: string): StoreTarget {
  const colon = spec.indexOf(':');
  const scheme = colon === -1 ? '' : spec.slice(0, colon).toLowerCase();
  const rest = colon === -1 ? '' : spec.slice(colon + 1);
  switch (scheme) {
    case 'sqlite':
      if (rest.length === 0 || rest.startsWith('//') || rest === ':memory:')
        throw new InvalidOptionError(`--store: write sqlite:PATH (for example sqlite:./data/tessera.db), got ${JSON.stringify(spec)}`);
      return { kind: 'sqlite', url: spec, param: null, path: rest };
    case 'memory':
      throw new InvalidOptionError('--store: memory: lives inside one process; the CLI cannot reach an app’s memory store');
    case 'redis':
    case 'rediss':
    case 'redis-cluster': {
      const { url, value } = takeParam(spec, 'prefix');
      return { kind: scheme === 'redis-cluster' ? 'redis-cluster' : 'redis', url, param: value, path: '' };
    }
    case 'postgres':
    case 'postgresql': {
      const { url, value } = takeParam(spec, 'schema');
      return { kind: 'postgres', url, param: value, path: '' };
    }
    default:
      throw new InvalidOptionError(`--store: unknown store ${JSON.stringify(spec)}; use ${SUPPORTED}`);
  }
}

/**
 * Opens the store. PostgreSQL is opened with `migrate: false`: reading or revoking sessions must
 * not change a schema behind the deployment's back (`tessera migrate` does that).
 */
export async function openStore(target: StoreTarget): Promise<SessionStore> {
  switch (target.kind) {
    case 'sqlite': {
      const { SqliteStore } = await import('../stores/sqlite/index.js');
      return new SqliteStore({ path: target.path });
    }
    case 'redis':
    case 'redis-cluster': {
      const { RedisStore } = await import('../stores/redis/index.js');
      const prefix = target.param !== null ? { prefix: target.param } : {};
      if (target.kind === 'redis') return new RedisStore({ url: target.url, ...prefix });
      const hosts = target.url
        .slice('redis-cluster://'.length)
        .split(',')
        .filter((h) => h.length > 0);
      if (hosts.length === 0) throw new InvalidOptionError('--store: redis-cluster:// needs host:port,host:port of some cluster nodes');
      return new RedisStore({ cluster: { rootNodes: hosts.map((h) => `redis://${h}`) }, ...prefix });
    }
    case 'postgres': {
      const { PostgresStore } = await import('../stores/postgres/index.js');
      return new PostgresStore({
        connectionString: target.url,
        migrate: false,
        connectionTimeout: CONNECT_TIMEOUT_MS,
        ...(target.param !== null ? { schema: target.param } : {}),
      });
    }
  }
}
