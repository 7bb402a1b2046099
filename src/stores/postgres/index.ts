export { PostgresStore } from './store.js';
export type { PostgresStoreOptions } from './options.js';
export type { SessionChange, SessionChangeListener } from './notifications.js';
export { migrate, migrations, SCHEMA_VERSION, type TableNames } from './migrations.js';
export { isUnavailable, type PgPool, type PgPoolClient, type PgQueryConfig, type PgQueryResult, type PgNotification } from './driver.js';
