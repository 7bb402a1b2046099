/**
 * Sessions in PostgreSQL through `pg` (an optional peer dependency), with versioned migrations.
 *
 * @module tessera-session/stores/postgres
 */
export { PostgresStore } from './store.js';
export type { PostgresStoreOptions } from './options.js';
export type { SessionChange, SessionChangeListener } from './notifications.js';
export { migrate, migrations, SCHEMA_VERSION, type TableNames, type ResolvedNames } from './migrations.js';
export { isUnavailable, type PgPool, type PgPoolClient, type PgQueryConfig, type PgQueryResult, type PgNotification } from './driver.js';
