/**
 * Shared set-up for the PostgreSQL suites: finds a working `DATABASE_URL`, makes throwaway schemas,
 * and counts statements through a wrapping pool.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PgPool, PgPoolClient, PgQueryConfig } from '../../src/stores/postgres/index.js';

export const DEFAULT_DATABASE_URL = 'postgres://127.0.0.1:5432/test';

/**
 * The URL to test against, or why there is none. A URL without a user falls back to `PGUSER`,
 * `USER`, then `postgres` and `root`, since the driver needs a user name and CI images differ.
 */
export async function findDatabase(): Promise<{ url: string } | { reason: string }> {
  const base = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const candidates: string[] = [base];
  const parsed = new URL(base);
  if (parsed.username === '' && !process.env.PGUSER && !process.env.USER) {
    candidates.length = 0;
    for (const user of ['postgres', 'root']) {
      const url = new URL(base);
      url.username = user;
      candidates.push(url.toString());
    }
  }
  let lastError = 'unknown error';
  for (const url of candidates) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { url };
    } catch (error) {
      lastError = error instanceof Error ? error.message || (error as { code?: string }).code || String(error) : String(error);
    } finally {
      await client.end().catch(() => {});
    }
  }
  return { reason: `PostgreSQL not reachable at ${base}: ${lastError}` };
}

/** The database to test against; fails the suite when `TESSERA_REQUIRE_SERVICES=1`, else gives a skip reason. */
export async function databaseOrSkip(): Promise<{ url: string | null; skip: string | false }> {
  const found = await findDatabase();
  if ('url' in found) return { url: found.url, skip: false };
  if (process.env.TESSERA_REQUIRE_SERVICES === '1') throw new Error(`${found.reason} (TESSERA_REQUIRE_SERVICES=1)`);
  console.log(`# skipping PostgreSQL tests: ${found.reason}`);
  return { url: null, skip: found.reason };
}

export function randomSchema(prefix = 'tessera_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** A pool that counts every statement sent through it, transactions included. */
export function countingPool(pool: pg.Pool): { pool: PgPool; statements: string[]; reset(): void } {
  const statements: string[] = [];
  const wrapClient = (client: PgPoolClient): PgPoolClient =>
    new Proxy(client, {
      get(target, property) {
        if (property === 'query') {
          return (config: PgQueryConfig) => {
            statements.push(config.text);
            return target.query(config);
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const wrapped: PgPool = {
    query(config) {
      statements.push(config.text);
      return pool.query(config);
    },
    async connect() {
      return wrapClient(await pool.connect());
    },
    end: () => pool.end(),
  };
  return { pool: wrapped, statements, reset: () => void statements.splice(0) };
}
