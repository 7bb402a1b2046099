import type { SqlType } from '../../store-kit/index.js';
import type { ResolvedNames } from './migrations.js';

/** One statement, ready for `pg`. */
export interface Statement {
  text: string;
  values: unknown[];
  /**
   * Sent as an unnamed statement, planned for its own values each time. A prepared statement's
   * plan is cached after five runs: one chosen for a common display-name prefix walks the whole
   * primary key for a rare one (about 90 ms at 100,000 sessions, measured by bench/admin-scale.mjs).
   */
  unprepared?: true;
}

/** What the statement builders name: the store's tables, quoted and schema-qualified, and its NOTIFY channel. */
export interface SqlContext {
  /** `"schema"."table"`: the sessions. */
  readonly sessions: string;
  /** Tokens a login or rotation replaced, for `isSuperseded`. */
  readonly superseded: string;
  /** Idempotency keys of applied change sets. */
  readonly applied: string;
  /** Counts in time windows (`countInWindow`). */
  readonly counters: string;
  /** Session notices waiting for delivery (the outbox). */
  readonly notices: string;
  /** Sent as a parameter (`pg_notify`), never spliced into the text. */
  readonly channel: string;
  /** This store object's id, which its writes set as `tessera.origin` (see `originGuard`); a parameter too. */
  readonly origin: string;
}

export function sqlContext(names: ResolvedNames, channel: string, origin: string): SqlContext {
  return Object.freeze({
    sessions: names.qualified,
    superseded: names.superseded,
    applied: names.applied,
    counters: names.counters,
    notices: names.notices,
    channel,
    origin,
  });
}

/**
 * A condition to AND into the WHERE clause of a statement's UPDATE or DELETE of sessions: it sets
 * `tessera.origin` to the placeholder `origin` (this store's id) for the rest of the transaction
 * and is always true. A row is changed only once its conditions have held, so whenever the
 * invalidation trigger has rows to publish, the setting was made before it runs (at the end of
 * the statement), and listeners of this store object can leave those out. Local to the
 * transaction: the next statement on the pooled connection, anyone's, starts without it.
 */
export function originGuard(origin: string): string {
  return `(SELECT set_config('tessera.origin', ${origin}, true)) IS NOT NULL`;
}

/** PostgreSQL's name for a column type of the store kit's map. */
export function pgType(type: SqlType | 'boolean' | 'float8' | 'text[]'): string {
  return type === 'json' ? 'jsonb' : type;
}

/** Collects SQL parameters and hands out their `$n` placeholders, cast where PostgreSQL cannot infer the type. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type?: Parameters<typeof pgType>[0]): string {
    this.values.push(value);
    return type === undefined ? `$${this.values.length}` : `$${this.values.length}::${pgType(type)}`;
  }
}
