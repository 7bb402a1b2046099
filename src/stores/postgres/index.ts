export { PostgresStore, type PostgresStoreOptions, type SessionChange, type SessionChangeListener } from './store.js';
export { migrate, migrations, SCHEMA_VERSION, type TableNames } from './migrations.js';
export { isUnavailable, type PgPool, type PgPoolClient, type PgQueryConfig, type PgQueryResult, type PgNotification } from './driver.js';
