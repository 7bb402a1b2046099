import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { runAdapterConformance } from '../../testing/index.js';
import { session } from './index.js';

type Route = (ctx: Koa.Context) => Promise<unknown> | unknown;

/** A query parameter as the routes of `AdapterApp` take it: a string, empty when absent or repeated. */
function query(ctx: Koa.Context, name: string): string {
  const value = ctx.query[name];
  return typeof value === 'string' ? value : '';
}

const routes: Record<string, Route> = {
  'GET /session': (ctx) => ({ id: ctx.session.id, subject: ctx.session.subject, data: ctx.session.data() }),
  'POST /increment': async (ctx) => ({ value: await ctx.session.increment('count') }),
  'POST /set': async (ctx) => {
    await ctx.session.set(query(ctx, 'key'), query(ctx, 'value'));
    return { ok: true };
  },
  'POST /login': async (ctx) => {
    await ctx.session.login(query(ctx, 'subject'));
    return { id: ctx.session.id, subject: ctx.session.subject };
  },
  'POST /login-rotate': async (ctx) => {
    await ctx.session.login(query(ctx, 'subject'));
    await ctx.session.rotate();
    return { id: ctx.session.id };
  },
  'POST /logout': async (ctx) => {
    await ctx.session.logout();
    return { ok: true };
  },
  'GET /sessions': (ctx) => ctx.session.listSessions(),
  'POST /revoke': async (ctx) => ({ revoked: await ctx.session.revokeSession(query(ctx, 'id')) }),
  'POST /revoke-others': async (ctx) => ({ revoked: await ctx.session.revokeOtherSessions() }),
};

runAdapterConformance({
  name: 'koa',
  async start({ manager, trustProxy }) {
    const app = new Koa();
    if (trustProxy) {
      app.proxy = true;
      app.maxIpsCount = 1;
    }
    app.use(session(manager));
    app.use(async (ctx) => {
      const route = routes[`${ctx.method} ${ctx.path}`];
      if (route !== undefined) ctx.body = await route(ctx);
    });
    const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        }),
    };
  },
});
