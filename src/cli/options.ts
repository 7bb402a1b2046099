/** The options every store command shares, and the run-with-a-store wrapper each uses. */
import { encryptionCodec, InvalidOptionError, parseKeyRing, SessionManager, type SessionStore } from '../core/index.js';
import type { Output } from './command.js';
import { CONNECT_TIMEOUT_MS, openStore, parseStoreUrl, type StoreTarget } from './store-url.js';

/** Options of every store command. */
const COMMON: Spec = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
};

type Spec = Record<string, { type: 'string' | 'boolean' }>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  json: boolean;
  help: boolean;
}

/**
 * Parses `args`; an unknown option or a missing value is an `InvalidOptionError` (exit 2). Not
 * `util.parseArgs`: a session id or cursor may start with `-` (base64url), and parseArgs takes
 * one for an option, so here only `--name` and `-h` are options and anything else is an argument.
 */
export function parse(args: string[], spec: Spec): Parsed {
  const options: Spec = { ...COMMON, ...spec };
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      values.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const option = Object.hasOwn(options, name) ? options[name] : undefined;
    if (option === undefined) throw new InvalidOptionError(`unknown option --${name}`);
    if (option.type === 'boolean') {
      if (eq !== -1) throw new InvalidOptionError(`--${name} takes no value`);
      values[name] = true;
    } else {
      const value = eq !== -1 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new InvalidOptionError(`--${name} needs a value`);
      values[name] = value;
    }
  }
  return { values, positionals, json: values.json === true, help: values.help === true };
}

/** A whole number option within bounds, or `fallback` when absent. */
export function wholeNumber(value: string | boolean | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^[0-9]{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw new InvalidOptionError(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/** The store named by `--store`, else `TESSERA_STORE`. */
export function storeTarget(parsed: Parsed, env: NodeJS.ProcessEnv): StoreTarget {
  const spec = (parsed.values.store as string | undefined) ?? env.TESSERA_STORE;
  if (spec === undefined || spec === '') throw new InvalidOptionError('name a store with --store URL or TESSERA_STORE');
  return parseStoreUrl(spec);
}

/** Rejects after `ms` with `message`; the timer is cleared once `work` settles. */
async function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens the store, waits for its `ready()` (bounded: a store that is down fails in seconds, not a
 * hang, even where a driver keeps reconnecting), runs `work` with a manager on it, and closes both.
 * The manager, not the bare store, so a revocation goes out the way the app's would.
 */
export async function withStore<T>(
  target: StoreTarget,
  env: NodeJS.ProcessEnv,
  work: (manager: SessionManager, store: SessionStore) => Promise<T>,
): Promise<T> {
  const keys = env.TESSERA_ENCRYPTION_KEYS;
  const codec = keys !== undefined && keys !== '' ? encryptionCodec(parseKeyRing(keys)) : undefined;
  const store = await openStore(target);
  // No background sweep: `tessera cleanup` sweeps when asked.
  const manager = new SessionManager({
    store,
    cleanupInterval: false,
    // The failure reaches the command, which prints it as one line; the default would add a stack trace.
    onStoreError: () => {},
    ...(codec !== undefined ? { codec } : {}),
  });
  try {
    await within(
      manager.ready(),
      CONNECT_TIMEOUT_MS + 1000,
      `the ${target.kind} store did not answer within ${CONNECT_TIMEOUT_MS + 1000} ms`,
    );
    // No cap on the work itself: `--all` or a cleanup may rightly take long, and each store call
    // is already bounded by the store's own timeouts (commandTimeout, statementTimeout).
    return await work(manager, store);
  } catch (error) {
    // The CLI opens PostgreSQL without migrating; a missing table (42P01) or column (42703) means that is due.
    const code = (error as { code?: unknown; cause?: { code?: unknown } }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
    if (target.kind === 'postgres' && (code === '42P01' || code === '42703'))
      throw new Error(`the sessions table is missing or older than this tessera (${(error as Error).message}): run tessera migrate`);
    throw error;
  } finally {
    manager.close();
    // A store that never connected may never finish closing either: do not wait for it long.
    await within(store.close(), 1000, 'close').catch(() => {});
  }
}

/** Prints `value` as one JSON document (for `--json`). */
export function printJson(out: Output, value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** A help text, on stdout; `--help` exits 0. */
export function help(out: Output, text: string): number {
  out(text);
  return 0;
}
