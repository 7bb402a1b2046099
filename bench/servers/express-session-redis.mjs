// (c) express + express-session + connect-redis: what most users run, and the reference every
// Redis figure is divided by. Settings in lib/express-session-app.mjs.
import { env, redisClient } from '../lib/server-common.mjs';
import { serveExpressSession } from '../lib/express-session-app.mjs';

const { RedisStore } = await import('connect-redis');
const client = await redisClient();
serveExpressSession(new RedisStore({ client, prefix: env.prefix }));
