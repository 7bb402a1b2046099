// The slice of express-session and connect-pg-simple the migration tests use (neither ships types,
// and @types/express-session is not a dev dependency). connect-redis's own types import from here.
declare module 'express-session' {
  import type { RequestHandler } from 'express';

  /** What a session holds; apps add fields by declaration merging. */
  export interface SessionData {
    cookie: { expires?: Date | string | null; maxAge?: number | null };
  }
  /** The store base class every express-session store extends. */
  export class Store {
    constructor(options?: unknown);
  }
  interface Options {
    store?: Store;
    secret: string | string[];
    name?: string;
    resave?: boolean;
    saveUninitialized?: boolean;
    cookie?: { maxAge?: number; path?: string; secure?: boolean; httpOnly?: boolean };
  }
  interface ExpressSession {
    (options: Options): RequestHandler;
    Store: typeof Store;
  }
  const session: ExpressSession;
  export default session;
}

declare module 'connect-pg-simple' {
  import type { Store } from 'express-session';

  interface PgStoreOptions {
    pool?: unknown;
    tableName?: string;
    schemaName?: string;
    createTableIfMissing?: boolean;
    pruneSessionInterval?: false | number;
  }
  type PgStore = new (options?: PgStoreOptions) => Store & { close(): Promise<void> };
  export default function connectPgSimple(session: unknown): PgStore;
}
