// (j) express + express-session + connect-pg-simple: the reference for the PostgreSQL figures.
// Same session settings as express-session-redis (lib/express-session-app.mjs); the table lives
// in this run's schema. Statements are counted by wrapping pg's Client#query.
import session from 'express-session';
import { countPgStatements, env, skip } from '../lib/server-common.mjs';
import { serveExpressSession } from '../lib/express-session-app.mjs';

const pg = await countPgStatements();
const connectPgSimple = (await import('connect-pg-simple')).default;
const PgStore = connectPgSimple(session);
const pool = new pg.Pool({ connectionString: env.databaseUrl, connectionTimeoutMillis: 2000 });
try {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${env.schema}"`);
} catch (error) {
  skip(`PostgreSQL at ${env.databaseUrl} unreachable: ${error?.message ?? error}`);
}
serveExpressSession(new PgStore({ pool, schemaName: env.schema, tableName: 'session', createTableIfMissing: true }));
