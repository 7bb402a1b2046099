// The types of an app that runs tessera beside express-session while it moves over. Compiled on
// its own by test/types/express-property.test.ts, because the declaration below changes
// Express.Request for the whole program, and the rest of the repository keeps `req.session`.
// Nothing here runs. The imports are the sources an app gets as 'tessera-session/adapters/express'.
import { expectTypeOf } from 'expect-type';
import express, { type Request, type RequestHandler } from 'express';
import { errorHandler, requireAuth, session, type SessionProperty } from '../../../src/adapters/express/index.js';
import type { Session, SessionManager } from '../../../src/core/index.js';

declare module '../../../src/adapters/express/index.js' {
  interface ExpressSessionTypes {
    property: 'tessera';
  }
}

/** What @types/express-session declares, in short: `req.session` is its own. */
interface LegacySession {
  views?: number;
  regenerate(callback: (error: unknown) => void): void;
}
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      session: LegacySession;
    }
  }
}

declare const manager: SessionManager;

expectTypeOf<SessionProperty>().toEqualTypeOf<'tessera'>();
expectTypeOf<Request['tessera']>().toEqualTypeOf<Session>();
expectTypeOf<Request['session']>().toEqualTypeOf<LegacySession>();
expectTypeOf<Request['sessions']>().toEqualTypeOf<SessionManager>();

const app = express();
app.use(session(manager, { property: 'tessera' }));
const me: RequestHandler = async (req, res) => {
  expectTypeOf(req.tessera.subject).toEqualTypeOf<string | null>();
  expectTypeOf(await req.tessera.increment('views')).toEqualTypeOf<number>();
  res.json({ subject: req.tessera.subject, oldViews: req.session.views ?? 0 });
};
app.get('/me', requireAuth(), me);
app.use(errorHandler());

// @ts-expect-error: with another property declared, session() must be given it (or req.tessera would be empty)
session(manager);
// @ts-expect-error: and given that one: the types say req.tessera
session(manager, { property: 'session' });
