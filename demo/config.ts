/**
 * The demo's configuration, read from the environment once at start-up. Every value is checked
 * here so that a typo stops the server with a message naming the variable, instead of starting
 * with a silently different setting.
 */
import { DEFAULT_LIMITS, type ServerLimits } from './http.js';

/** A mistake in the environment; the server prints the message and exits with status 1. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface DemoConfig {
  /** 0 lets the OS pick a free port. */
  port: number;
  host: string;
  /** `sqlite:PATH` or `memory:`; opened by `openStore`. */
  store: string;
  /** Null leaves the library default (100); `Infinity` when unlimited. */
  maxSessionsPerSubject: number | null;
  /** New anonymous sessions per client address per minute; null leaves the library default, false lifts it. */
  anonymousSessionLimit: number | false | null;
  /** Reverse proxies in front of the demo whose `X-Forwarded-*` headers are believed; 0 believes none. */
  trustProxy: number;
  limits: ServerLimits;
  onLimit: 'evict-oldest' | 'reject';
  /** Seconds; null leaves the library default. */
  idleTimeout: number | null;
  /** Seconds; null leaves the library default. */
  absoluteTimeout: number | null;
  /** `keyId:base64key,...` (first is primary); null stores data in plain JSON. */
  encryptionKeys: string | null;
  /** Seconds between token renewals; null never renews. */
  renewalInterval: number | null;
  /** Unknown tokens per client address per minute; null leaves the library default. */
  bruteForceLimit: number | null;
  /** What happens past that limit: `detect` (an event only, the library default) or `block` (429). */
  bruteForceAction: 'detect' | 'block';
  /** Usernames that may use the admin console at `/admin/`; null when `TESSERA_ADMINS` is unset (then `/admin/` is 404). */
  admins: ReadonlySet<string> | null;
  /** The in-process session cache (`TESSERA_CACHE=on`); null when off. Unset fields take the library's defaults. */
  cache: { maxEntries?: number; maxStaleness?: number } | null;
  /** express-session's sessions to take over (`TESSERA_LEGACY_STORE` and friends); null when unset. */
  legacy: LegacyConfig | null;
  /** Prometheus text at `GET /metrics` (`TESSERA_METRICS=on`); off by default. */
  metrics: boolean;
}

/** Where express-session kept its sessions and how it signed its cookie, for the migration. */
export interface LegacyConfig {
  /** `redis://…` (or `rediss://`) or `postgres://…` (or `postgresql://`). */
  store: string;
  kind: 'redis' | 'postgres';
  /** connect-redis's key prefix (Redis only). */
  prefix: string;
  /** connect-pg-simple's table (PostgreSQL only), optionally `schema.table`. */
  table: string;
  secrets: string[];
  cookie: string;
  subject: string;
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_STORE = 'sqlite:./data/tessera.db';
/** The library's own ceiling for timeouts: ten years. */
const MAX_TIMEOUT = 10 * 365 * 86_400;

type Env = Record<string, string | undefined>;

/** An unset or empty variable means "use the default", so `PORT= npm start` behaves like `npm start`. */
function read(env: Env, name: string): string | null {
  const value = env[name];
  return value === undefined || value === '' ? null : value;
}

function wholeNumber(env: Env, name: string, min: number, max: number, what: string): number | null {
  const text = read(env, name);
  if (text === null) return null;
  const value = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be ${what} from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function loadConfig(env: Env = process.env): DemoConfig {
  const port = wholeNumber(env, 'PORT', 0, 65_535, 'a port number') ?? DEFAULT_PORT;
  const host = read(env, 'HOST') ?? DEFAULT_HOST;
  if (!/^[A-Za-z0-9.:\-[\]]{1,253}$/.test(host))
    throw new ConfigError(`HOST must be a host name or IP address, got ${JSON.stringify(host)}`);

  const store = read(env, 'TESSERA_STORE') ?? DEFAULT_STORE;

  const maxSessionsPerSubject = orUnlimited(env, 'TESSERA_MAX_SESSIONS', 'a whole number of sessions');
  const anonymous = orUnlimited(env, 'TESSERA_ANONYMOUS_LIMIT', 'a whole number of new sessions per minute');
  const anonymousSessionLimit = anonymous === Number.POSITIVE_INFINITY ? false : anonymous;

  const onLimitText = read(env, 'TESSERA_ON_LIMIT') ?? 'evict-oldest';
  if (onLimitText !== 'evict-oldest' && onLimitText !== 'reject') {
    throw new ConfigError(`TESSERA_ON_LIMIT must be "evict-oldest" or "reject", got ${JSON.stringify(onLimitText)}`);
  }

  const idleTimeout = wholeNumber(env, 'TESSERA_IDLE_TIMEOUT', 1, MAX_TIMEOUT, 'a whole number of seconds');
  const absoluteTimeout = wholeNumber(env, 'TESSERA_ABSOLUTE_TIMEOUT', 1, MAX_TIMEOUT, 'a whole number of seconds');

  const encryptionKeys = read(env, 'TESSERA_ENCRYPTION_KEYS');
  const renewalInterval = wholeNumber(env, 'TESSERA_RENEWAL_INTERVAL', 1, MAX_TIMEOUT, 'a whole number of seconds');
  const bruteForceLimit = wholeNumber(env, 'TESSERA_BRUTE_FORCE_LIMIT', 1, 1_000_000, 'a whole number of attempts per minute');
  const bruteForceAction = read(env, 'TESSERA_BRUTE_FORCE_ACTION') ?? 'detect';
  if (bruteForceAction !== 'detect' && bruteForceAction !== 'block') {
    throw new ConfigError(`TESSERA_BRUTE_FORCE_ACTION must be "detect" or "block", got ${JSON.stringify(bruteForceAction)}`);
  }

  const admins = loadAdmins(env);
  const cache = loadCache(env);
  const metrics = read(env, 'TESSERA_METRICS') ?? 'off';
  if (metrics !== 'on' && metrics !== 'off') throw new ConfigError(`TESSERA_METRICS must be "on" or "off", got ${JSON.stringify(metrics)}`);
  const legacy = loadLegacy(env);
  const trustProxy = wholeNumber(env, 'TESSERA_TRUST_PROXY', 0, 10, 'a whole number of proxy hops') ?? 0;
  const limits = loadLimits(env, trustProxy);

  return {
    port,
    host,
    store,
    maxSessionsPerSubject,
    anonymousSessionLimit,
    trustProxy,
    limits,
    onLimit: onLimitText,
    idleTimeout,
    absoluteTimeout,
    encryptionKeys,
    renewalInterval,
    bruteForceLimit,
    bruteForceAction,
    admins,
    cache,
    metrics: metrics === 'on',
    legacy,
  };
}

const LEGACY_SETTINGS = [
  'TESSERA_LEGACY_PREFIX',
  'TESSERA_LEGACY_TABLE',
  'TESSERA_LEGACY_SECRETS',
  'TESSERA_LEGACY_COOKIE',
  'TESSERA_LEGACY_SUBJECT',
];

/** `TESSERA_LEGACY_STORE` and the settings that go with it, which need it set. */
function loadLegacy(env: Env): LegacyConfig | null {
  const store = read(env, 'TESSERA_LEGACY_STORE');
  if (store === null) {
    const given = LEGACY_SETTINGS.find((name) => read(env, name) !== null);
    if (given !== undefined)
      throw new ConfigError(`${given} is set but TESSERA_LEGACY_STORE is not: set it to the express-session store's URL`);
    return null;
  }
  const scheme = store.slice(0, Math.max(0, store.indexOf('://'))).toLowerCase();
  const kind = scheme === 'redis' || scheme === 'rediss' ? 'redis' : scheme === 'postgres' || scheme === 'postgresql' ? 'postgres' : null;
  if (kind === null) throw new ConfigError(`TESSERA_LEGACY_STORE must be a redis://… or postgres://… URL, got ${JSON.stringify(store)}`);
  const prefix = read(env, 'TESSERA_LEGACY_PREFIX');
  const table = read(env, 'TESSERA_LEGACY_TABLE');
  if (kind === 'postgres' && prefix !== null)
    throw new ConfigError('TESSERA_LEGACY_PREFIX is for a Redis TESSERA_LEGACY_STORE; PostgreSQL takes TESSERA_LEGACY_TABLE');
  if (kind === 'redis' && table !== null)
    throw new ConfigError('TESSERA_LEGACY_TABLE is for a PostgreSQL TESSERA_LEGACY_STORE; Redis takes TESSERA_LEGACY_PREFIX');
  if (table !== null && !/^([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(table))
    throw new ConfigError(`TESSERA_LEGACY_TABLE must be a table name, or schema.table, got ${JSON.stringify(table)}`);
  const secretsText = read(env, 'TESSERA_LEGACY_SECRETS');
  if (secretsText === null)
    throw new ConfigError("TESSERA_LEGACY_SECRETS is required with TESSERA_LEGACY_STORE: express-session's secret(s), comma-separated");
  const secrets = secretsText.split(',');
  if (secrets.some((secret) => secret.length === 0))
    throw new ConfigError('TESSERA_LEGACY_SECRETS has an empty secret (two commas, or one at an end)');
  const cookie = read(env, 'TESSERA_LEGACY_COOKIE') ?? 'connect.sid';
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/.test(cookie))
    throw new ConfigError(`TESSERA_LEGACY_COOKIE is no cookie name: ${JSON.stringify(cookie)}`);
  const subject = read(env, 'TESSERA_LEGACY_SUBJECT') ?? 'passport.user';
  if (!/^[A-Za-z0-9_$-]{1,128}(\.[A-Za-z0-9_$-]{1,128}){0,7}$/.test(subject))
    throw new ConfigError(
      `TESSERA_LEGACY_SUBJECT must be a dotted field path such as passport.user or userId, got ${JSON.stringify(subject)}`,
    );
  return { store, kind, prefix: prefix ?? 'sess:', table: table ?? 'session', secrets, cookie, subject };
}

/** `TESSERA_CACHE` (`on` or `off`, default off), and its two settings, which need it on. */
function loadCache(env: Env): DemoConfig['cache'] {
  const switched = read(env, 'TESSERA_CACHE') ?? 'off';
  if (switched !== 'on' && switched !== 'off')
    throw new ConfigError(`TESSERA_CACHE must be "on" or "off", got ${JSON.stringify(switched)}`);
  const maxEntries = wholeNumber(env, 'TESSERA_CACHE_MAX_ENTRIES', 1, 10_000_000, 'a whole number of sessions');
  const maxStaleness = wholeNumber(env, 'TESSERA_CACHE_MAX_STALENESS_MS', 20, 3_600_000, 'a whole number of milliseconds');
  if (switched === 'off') {
    const given = maxEntries !== null ? 'TESSERA_CACHE_MAX_ENTRIES' : maxStaleness !== null ? 'TESSERA_CACHE_MAX_STALENESS_MS' : null;
    if (given !== null) throw new ConfigError(`${given} is set but the cache is off: set TESSERA_CACHE=on too`);
    return null;
  }
  return { ...(maxEntries !== null ? { maxEntries } : {}), ...(maxStaleness !== null ? { maxStaleness } : {}) };
}

/** `TESSERA_ADMINS`: comma-separated usernames, each as the demo's login accepts them. */
function loadAdmins(env: Env): ReadonlySet<string> | null {
  const text = read(env, 'TESSERA_ADMINS');
  if (text === null) return null;
  const names = text.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
      throw new ConfigError(`TESSERA_ADMINS must be comma-separated usernames (A-Z a-z 0-9 . _ @ -), got ${JSON.stringify(name)}`);
    }
  }
  return new Set(names);
}

/** A whole number, or the word `unlimited` (`Infinity`); null when unset. */
function orUnlimited(env: Env, name: string, what: string): number | null {
  if (read(env, name) === 'unlimited') return Number.POSITIVE_INFINITY;
  return wholeNumber(env, name, 1, 1_000_000, `${what} (or "unlimited")`);
}

function loadLimits(env: Env, trustProxy: number): ServerLimits {
  const seconds = (name: string) => wholeNumber(env, name, 1, 3600, 'a whole number of seconds');
  const requestTimeout = seconds('TESSERA_REQUEST_TIMEOUT') ?? DEFAULT_LIMITS.requestTimeout;
  const headersSet = seconds('TESSERA_HEADERS_TIMEOUT');
  if (headersSet !== null && headersSet > requestTimeout) {
    throw new ConfigError(
      `TESSERA_HEADERS_TIMEOUT (${headersSet}) must be at most TESSERA_REQUEST_TIMEOUT (${requestTimeout}): the headers are part of the request`,
    );
  }
  const headersTimeout = headersSet ?? Math.min(DEFAULT_LIMITS.headersTimeout, requestTimeout);
  const keepAliveTimeout = seconds('TESSERA_KEEP_ALIVE_TIMEOUT') ?? DEFAULT_LIMITS.keepAliveTimeout;
  const maxConnections =
    wholeNumber(env, 'TESSERA_MAX_CONNECTIONS', 1, 1_000_000, 'a whole number of connections') ?? DEFAULT_LIMITS.maxConnections;
  const perAddress = orUnlimited(env, 'TESSERA_MAX_CONNECTIONS_PER_ADDRESS', 'a whole number of connections');
  // Behind a proxy every connection comes from the proxy: a cap per socket address would cap
  // everyone at once, so it is off unless asked for (the proxy caps per client instead).
  const maxConnectionsPerAddress =
    perAddress === null
      ? trustProxy > 0
        ? null
        : DEFAULT_LIMITS.maxConnectionsPerAddress
      : Number.isFinite(perAddress)
        ? perAddress
        : null;
  return { requestTimeout, headersTimeout, keepAliveTimeout, maxConnections, maxConnectionsPerAddress };
}
