/**
 * What `tessera migrate` would add to a SQLite database. The SQLite store has no version table: its
 * schema is idempotent DDL it runs when opened (`schemaSql`, plus `ADDED_COLUMNS` for tables of an
 * earlier version), so "what would it do" is the difference between that and what the file holds.
 */
import { existsSync } from 'node:fs';
import {
  ADDED_COLUMNS,
  appliedTableName,
  indexNames,
  noticesTableName,
  quoteTableName,
  supersededTableName,
} from '../stores/sqlite/schema.js';

/** The default table of `SqliteStore`. */
export const SQLITE_TABLE = 'tessera_sessions';

interface Inspectable {
  prepare(sql: string): { all(...params: unknown[]): unknown[] };
  close(): void;
}

/** Objects the store would create ("table x", "index y", "column t.c"), in creation order. */
export async function sqliteMissing(path: string, table = SQLITE_TABLE): Promise<string[]> {
  const wanted = [
    ...[table, supersededTableName(table), appliedTableName(table), noticesTableName(table)].map((name) => `table ${name}`),
    ...Object.values(indexNames(table)).map((name) => `index ${name}`),
  ];
  if (!existsSync(path)) return [`file ${path}`, ...wanted];
  const { default: Database } = (await import('better-sqlite3')) as unknown as {
    default: new (path: string, options: { readonly: boolean; fileMustExist: boolean }) => Inspectable;
  };
  // Read-only: a dry run must not even create the write-ahead log's tables.
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const present = new Set(
      (
        db.prepare("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')").all() as Array<{ type: string; name: string }>
      ).map((row) => `${row.type} ${row.name}`),
    );
    const missing = wanted.filter((item) => !present.has(item));
    if (present.has(`table ${table}`)) {
      const columns = new Set(
        (db.prepare(`PRAGMA table_info(${quoteTableName(table)})`).all() as Array<{ name: string }>).map((c) => c.name),
      );
      for (const [column] of ADDED_COLUMNS) if (!columns.has(column)) missing.push(`column ${table}.${column}`);
    }
    return missing;
  } finally {
    db.close();
  }
}
