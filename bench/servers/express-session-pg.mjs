// (j) express + express-session + connect-pg-simple: the reference for the PostgreSQL figures.
// Same session settings as express-session-redis; the table lives in this run's schema.
// Statements are counted by wrapping pg's Client#query.
import express from 'express';
import session from 'express-session';
import { countPgStatements, env, IDLE_SECONDS, skip, stats } from '../lib/server-common.mjs';

const pg = await countPgStatements();
const connectPgSimple = (await import('connect-pg-simple')).default;
const PgStore = connectPgSimple(session);
const pool = new pg.Pool({ connectionString: env.databaseUrl, connectionTimeoutMillis: 2000 });
try {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${env.schema}"`);
} catch (error) {
  skip(`PostgreSQL at ${env.databaseUrl} unreachable: ${error?.message ?? error}`);
}
const store = new PgStore({ pool, schemaName: env.schema, tableName: 'session', createTableIfMissing: true });

const app = express();
app.disable('x-powered-by');
app.get('/__stats', (_req, res) => res.json(stats));
app.use(
  session({
    store,
    secret: 'bench-secret-bench-secret-bench-secret',
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: IDLE_SECONDS * 1000, httpOnly: true, sameSite: 'lax' },
  }),
);
app.post('/login', (req, res, next) => {
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.user = String(req.query.user ?? 'anonymous');
    res.json({ ok: true });
  });
});
app.get('/inc', (req, res) => {
  stats.requests++;
  req.session.n = (req.session.n ?? 0) + 1;
  res.json({ n: req.session.n });
});
app.get('/read', (req, res) => {
  stats.requests++;
  res.json({ n: req.session.n ?? 0 });
});
app.listen(env.port, '127.0.0.1', () => process.stdout.write('ready\n'));
