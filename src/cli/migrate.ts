/** `tessera migrate [--dry-run]`: brings a PostgreSQL or SQLite store's schema to this version. */
import { InvalidOptionError } from '../core/index.js';
import type { Command, Output } from './command.js';
import { sqliteMissing } from './migrate-sqlite.js';
import { help, parse, printJson, storeTarget } from './options.js';
import { CONNECT_TIMEOUT_MS, openStore, type StoreTarget } from './store-url.js';

const HELP = `usage: tessera migrate [--dry-run] [--store URL] [--json]

Brings the store's schema to the latest version: on PostgreSQL the versioned migrations (in one
transaction under an advisory lock, so processes running it together wait for each other), on SQLite the tables, indexes and
columns the store lacks. --dry-run prints what it would do and changes nothing. Redis has no schema.`;

/** `tessera migrate`. */
export const migrateCommand: Command = {
  usage: '[--dry-run]          bring a PostgreSQL or SQLite schema to the latest version',
  run: runMigrate,
};

interface Plan {
  store: StoreTarget['kind'];
  dryRun: boolean;
  /** Schema versions (PostgreSQL); null where the store has none. */
  from: number | null;
  to: number | null;
  /** What was (or would be) done, one item a step. */
  steps: string[];
}

async function runMigrate(args: string[], out: Output, _err: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, { 'dry-run': { type: 'boolean' } });
  if (parsed.help) return help(out, HELP);
  if (parsed.positionals.length > 0) throw new InvalidOptionError(`migrate takes no argument, got ${parsed.positionals[0]}`);
  const target = storeTarget(parsed, env);
  const dryRun = parsed.values['dry-run'] === true;
  const plan =
    target.kind === 'postgres'
      ? await migratePostgres(target, dryRun)
      : target.kind === 'sqlite'
        ? await migrateSqlite(target, dryRun)
        : { store: target.kind, dryRun, from: null, to: null, steps: [] };
  if (parsed.json) printJson(out, plan);
  else {
    const verb = dryRun ? 'would apply' : 'applied';
    if (plan.from !== null && plan.to !== null)
      out(plan.from === plan.to ? `schema at version ${plan.to}: nothing to do` : `${verb} versions ${plan.from + 1}..${plan.to}`);
    else if (plan.store !== 'sqlite') out(`${plan.store} has no schema to migrate`);
    else if (plan.steps.length === 0) out('schema up to date: nothing to do');
    const [would, did] = plan.store === 'postgres' ? ['would apply', 'applied'] : ['would create', 'created'];
    for (const step of plan.steps) out(`${dryRun ? would : did} ${step}`);
  }
  return 0;
}

async function migrateSqlite(target: StoreTarget, dryRun: boolean): Promise<Plan> {
  const steps = await sqliteMissing(target.path);
  // The store runs its idempotent DDL when opened: opening it is the migration.
  if (!dryRun && steps.length > 0) await (await openStore(target)).close();
  return { store: 'sqlite', dryRun, from: null, to: null, steps };
}

async function migratePostgres(target: StoreTarget, dryRun: boolean): Promise<Plan> {
  const [{ default: pg }, { migrate, migrations, SCHEMA_VERSION }, { resolveNames }, { translateError }] = await Promise.all([
    import('pg'),
    import('../stores/postgres/index.js'),
    import('../stores/postgres/migrations.js'),
    import('../stores/postgres/driver.js'),
  ]);
  const names = resolveNames(target.param !== null ? { schema: target.param } : {});
  const pool = new pg.Pool({ connectionString: target.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: 1 });
  // An idle client's error (the server going away) must not crash the process: the query fails instead.
  pool.on('error', () => {});
  try {
    if (!dryRun) {
      const { from, to } = await migrate(pool, { schema: names.schema });
      return { store: 'postgres', dryRun, from, to, steps: stepsBetween(from, to, names.qualified) };
    }
    // Read only: the version the migrations table records (none yet: 0).
    let from = 0;
    try {
      const exists = await pool.query('SELECT to_regclass($1) IS NOT NULL AS present', [names.migrations]);
      if ((exists.rows[0] as { present: boolean }).present) {
        const current = await pool.query(`SELECT coalesce(max(version), 0) AS version FROM ${names.migrations} WHERE table_name = $1`, [
          names.table,
        ]);
        from = Number((current.rows[0] as { version: number | string }).version);
      }
    } catch (error) {
      throw translateError(error);
    }
    const to = Math.max(from, SCHEMA_VERSION);
    const steps = stepsBetween(from, to, names.qualified).map(
      (step, i) => `${step}:\n${(migrations[from + i] as (n: typeof names) => string)(names).trim()}`,
    );
    return { store: 'postgres', dryRun, from, to, steps };
  } finally {
    await pool.end().catch(() => {});
  }
}

function stepsBetween(from: number, to: number, table: string): string[] {
  const steps: string[] = [];
  for (let version = from + 1; version <= to; version++) steps.push(`version ${version} of ${table}`);
  return steps;
}
