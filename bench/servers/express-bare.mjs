// (e) Express with no sessions at all: static JSON. The baseline for "the session layer costs
// Express users under 15%".
import express from 'express';
import { env, stats } from '../lib/server-common.mjs';

const app = express();
app.disable('x-powered-by');
app.get('/__stats', (_req, res) => res.json(stats));
app.post('/login', (_req, res) => res.json({ ok: true }));
app.get(['/inc', '/read'], (_req, res) => {
  stats.requests++;
  res.json({ n: 0 });
});
app.listen(env.port, '127.0.0.1', () => process.stdout.write('ready\n'));
