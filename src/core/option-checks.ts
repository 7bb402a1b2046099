/**
 * What the manager's options are checked for beyond their values: names that are no option (a
 * typo, which would otherwise change nothing silently, or a habit from express-session), a store
 * that is not a tessera store, and timeouts that are valid but likely mistakes.
 */
import { InvalidOptionError } from './errors.js';
import type { CookieOptions, SessionManagerOptions } from './options.js';

// `satisfies` makes these lists complete: an option added to the interface but not here fails to compile.
const OPTION_NAMES = Object.keys({
  store: true,
  idleTimeout: true,
  absoluteTimeout: true,
  touchInterval: true,
  maxSessionsPerSubject: true,
  onLimit: true,
  cookie: true,
  bearer: true,
  cleanupInterval: true,
  cleanupBatchSize: true,
  anonymousSessionLimit: true,
  maxFields: true,
  maxValueBytes: true,
  maxSessionBytes: true,
  idempotencyWindow: true,
  bruteForceLimit: true,
  bruteForceAction: true,
  renewalInterval: true,
  renewalGracePeriod: true,
  clock: true,
  codec: true,
  onListenerError: true,
  onStoreError: true,
  cache: true,
  adopt: true,
  webhooks: true,
} satisfies Record<keyof SessionManagerOptions, true>);

const COOKIE_OPTION_NAMES = Object.keys({ name: true, secure: true, sameSite: true } satisfies Record<keyof CookieOptions, true>);

const COOKIE_LIFETIME =
  "the cookie follows the session's expiry: it lasts until the absolute timeout, and the session ends sooner when idle; set idleTimeout and absoluteTimeout instead";
const COOKIE_SCOPE = 'the cookie is always host-only with Path=/ (what the __Host- prefix requires once it is Secure)';

/** express-session options, and why tessera has none of them. */
const HABITS: Readonly<Record<string, string>> = {
  secret:
    'tessera needs no secret: its tokens are random and only their hash is stored, so there is nothing to sign (to encrypt session data, give codec: encryptionCodec(...))',
  resave:
    'tessera saves only what a request changed (the keys it set, deleted or incremented), never the whole session, so there is nothing to resave',
  saveUninitialized:
    'tessera creates a session only when something is written to it (set, increment or login); an empty one is never saved',
  rolling: 'the idle timeout already restarts with every request (idleTimeout, touchInterval); the cookie lasts until the absolute timeout',
  genid: 'tessera makes its own ids and tokens (a random 256-bit secret, of which only a hash is stored)',
  proxy:
    "whether a request came over HTTPS is the adapter's to say: Express's req.secure (its trust proxy setting), or the node adapter's trustProxy",
};

const COOKIE_HABITS: Readonly<Record<string, string>> = {
  maxAge: COOKIE_LIFETIME,
  expires: COOKIE_LIFETIME,
  httpOnly: 'the cookie is always HttpOnly',
  path: COOKIE_SCOPE,
  domain: COOKIE_SCOPE,
};

/** Edits (insert, delete, replace, swap two neighbours) between `a` and `b`, ignoring case. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  // Rows i-2, i-1 and i of the optimal string alignment table.
  let before: number[] = [];
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, (before[j - 2] as number) + 1);
      row.push(best);
    }
    before = previous;
    previous = row;
  }
  return previous[y.length] as number;
}

/** The candidate nearest to `name` (compared by its last segment), if it is near enough to be what was meant. */
function nearest(name: string, candidates: readonly string[]): string | null {
  const allowed = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  let best: string | null = null;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    const d = distance(name, candidate.slice(candidate.lastIndexOf('.') + 1));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function unknown(
  path: string,
  name: string,
  habits: Readonly<Record<string, string>>,
  candidates: readonly string[],
  known: string,
): string {
  const habit = Object.hasOwn(habits, name) ? habits[name] : undefined;
  if (habit !== undefined) return `unknown option ${path}: ${habit}`;
  const near = nearest(name, candidates);
  return near === null ? `unknown option ${path} (${known})` : `unknown option ${path}: did you mean ${near}?`;
}

/** Throws `InvalidOptionError` naming every key of `options` (and of `options.cookie`) that is no option. */
export function assertKnownOptions(options: object): void {
  const problems: string[] = [];
  const cookieNames = COOKIE_OPTION_NAMES.map((name) => `cookie.${name}`);
  for (const name of Object.keys(options)) {
    if (OPTION_NAMES.includes(name)) continue;
    // A cookie option given at the top level is found where it belongs.
    problems.push(unknown(name, name, HABITS, [...OPTION_NAMES, ...cookieNames], `known options: ${OPTION_NAMES.join(', ')}`));
  }
  const { cookie } = options as { cookie?: unknown };
  if (cookie !== undefined) {
    if (cookie === null || typeof cookie !== 'object') throw new InvalidOptionError('cookie must be an object of cookie options');
    for (const name of Object.keys(cookie)) {
      if (COOKIE_OPTION_NAMES.includes(name)) continue;
      problems.push(unknown(`cookie.${name}`, name, COOKIE_HABITS, cookieNames, `known cookie options: ${COOKIE_OPTION_NAMES.join(', ')}`));
    }
  }
  if (problems.length > 0) throw new InvalidOptionError(problems.join('; '));
}

const STORE_METHODS = ['create', 'load', 'apply', 'delete', 'trimSubject', 'isSuperseded', 'deleteExpired', 'close'] as const;

/** Throws `InvalidOptionError` unless `store` has the store contract's methods, saying what it is instead. */
export function assertStore(store: unknown): void {
  if (store === undefined || store === null) {
    throw new InvalidOptionError(
      'options.store is required: a tessera store, such as new MemoryStore() (tessera-session/stores/memory), SqliteStore, RedisStore or PostgresStore',
    );
  }
  if (typeof store !== 'object') throw new InvalidOptionError(`options.store must be a tessera SessionStore, not a ${typeof store}`);
  const has = (name: string): boolean => typeof (store as Record<string, unknown>)[name] === 'function';
  const missing: string[] = STORE_METHODS.filter((name) => !has(name));
  const { capabilities } = store as { capabilities?: unknown };
  if (capabilities === null || typeof capabilities !== 'object') missing.unshift('capabilities');
  if (missing.length === 0) return;
  if (has('get') && has('set') && has('destroy') && !has('create') && !has('load') && !has('apply')) {
    throw new InvalidOptionError(
      'options.store looks like an express-session store (it has get, set and destroy); tessera needs a tessera store: MemoryStore, SqliteStore, RedisStore or PostgresStore from tessera-session/stores/*, or your own implementing SessionStore (see tessera-session/store-kit)',
    );
  }
  throw new InvalidOptionError(`options.store must be a tessera SessionStore; it lacks ${missing.join(', ')}`);
}

/** An idle timeout longer than this is more likely a unit mistake (milliseconds?) or a forgotten test value than a choice. */
const LONG_IDLE_TIMEOUT = 30 * 86_400;

/**
 * Warns of idle timeouts that are valid but likely mistakes, through `process.emitWarning` with a
 * `TesseraWarning` type and a code per kind, so that an app can filter them (`--disable-warning`,
 * `process.on('warning')`). Each kind at most once per manager: a per-session timeout is checked
 * at every login and `setIdleTimeout`, which must not flood the log.
 */
export class OptionWarnings {
  readonly #emitted = new Set<string>();

  /** `where` names the setting, for the message: `idleTimeout`, or a session's own. */
  idleTimeout(seconds: number, absoluteTimeout: number, where: string): void {
    if (seconds > LONG_IDLE_TIMEOUT) {
      this.warn(
        'TESSERA_IDLE_TIMEOUT_LONG',
        `${where} is ${seconds} seconds (${Math.round(seconds / 86_400)} days), over 30 days: timeouts are in seconds, not milliseconds, and a session is rarely meant to survive that long unused`,
      );
    }
    if (seconds > absoluteTimeout) {
      this.warn(
        'TESSERA_IDLE_TIMEOUT_OVER_ABSOLUTE',
        `${where} (${seconds} s) is longer than absoluteTimeout (${absoluteTimeout} s), which then always ends the session first; raise absoluteTimeout too, or lower the idle timeout`,
      );
    }
  }

  /** Emits `message` as a `TesseraWarning` with `code`, unless one with that code was emitted already. */
  warn(code: string, message: string): void {
    if (this.#emitted.has(code)) return;
    this.#emitted.add(code);
    process.emitWarning(message, { type: 'TesseraWarning', code });
  }
}

/** A timeout given in ms (express-session's `cookie.maxAge`) as whole seconds, rounded up: positive, as a tessera session always ends. */
export function timeoutFromMs(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)
    throw new InvalidOptionError(`${name} must be a positive number of ms (a tessera session always ends), not ${String(ms)}`);
  return Math.ceil(ms / 1000);
}
