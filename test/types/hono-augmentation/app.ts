// The types of an app that opts into Hono's global `ContextVariableMap`, as the hono adapter's
// `SessionVariables` documents it: then every context knows the session, an app's `new Hono()`
// without Variables and its own middleware too. Compiled on its own by
// test/types/hono-augmentation.test.ts, because the declaration changes every Hono context of the
// program. Nothing here runs. The imports are the sources an app gets as 'tessera-session/adapters/hono'.
import { expectTypeOf } from 'expect-type';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { session, type SessionVariables } from '../../../src/adapters/hono/index.js';
import type { Session, SessionManager } from '../../../src/core/index.js';

declare module 'hono' {
  interface ContextVariableMap extends SessionVariables {}
}

declare const manager: SessionManager;

const app = new Hono();
app.use(session(manager));
app.get('/me', (c) => {
  expectTypeOf(c.get('session')).toEqualTypeOf<Session>();
  expectTypeOf(c.var.session).toEqualTypeOf<Session>();
  return c.json({ subject: c.get('session').subject });
});

// An app's own middleware, typed with no Env of its own, sees it too.
export const requireLogin = createMiddleware(async (c, next) => {
  expectTypeOf(c.get('session')).toEqualTypeOf<Session>();
  if (!c.get('session').isAuthenticated) return c.json({ error: { code: 'NO_SESSION', message: 'log in first' } }, 401);
  await next();
});

new Hono().get('/other', (c) => {
  // @ts-expect-error: the map holds the session, not whatever an app misspells
  c.get('sesion');
  return c.text('ok');
});
