// The express + express-session server both express-session variants share: only the store differs.
// Settings as express-session's docs suggest: resave false, saveUninitialized false, and a
// 30-minute cookie (sliding through the store's touch, like tessera's idle timeout).
import express from 'express';
import session from 'express-session';
import { env, IDLE_SECONDS, stats } from './server-common.mjs';

/** Serves the workload routes with express-session over `store`. */
export function serveExpressSession(store) {
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
}
