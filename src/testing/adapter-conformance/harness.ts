import type { SessionManager } from '../../core/index.js';

/**
 * An app the adapter suite started, listening on a loopback port. It serves these routes, each
 * using the request's session through the adapter under test and answering JSON with status 200;
 * a tessera error thrown by any of them is answered through the adapter's (or framework's) error
 * handling, as an app using that adapter would answer it:
 *
 * | route | does | answers |
 * |---|---|---|
 * | `GET /session` | reads only | `{ id, subject, data }` (`session.id`, `session.subject`, `session.data()`) |
 * | `POST /increment` | `await session.increment('count')` | `{ value }` |
 * | `POST /set?key=K&value=V` | `await session.set(K, V)` (V a string) | `{ ok: true }` |
 * | `POST /login?subject=S` | `await session.login(S)` | `{ id, subject }` |
 * | `POST /login-rotate?subject=S` | `await session.login(S)` then `await session.rotate()` | `{ id }` |
 * | `POST /logout` | `await session.logout()` | `{ ok: true }` |
 * | `GET /sessions` | `await session.listSessions()` | the page |
 * | `POST /revoke?id=I` | `await session.revokeSession(I)` | `{ revoked }` (a boolean) |
 * | `POST /revoke-others` | `await session.revokeOtherSessions()` | `{ revoked }` (a count) |
 */
export interface AdapterApp {
  /** Its base URL, without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Stops it; the suite calls this once, after its tests on this app. */
  close(): Promise<void>;
}

/** How the suite asks for an app. */
export interface AdapterAppOptions {
  /** The manager the app's sessions come from (the suite's store and clock behind it). */
  manager: SessionManager;
  /**
   * Whether the app sits behind one reverse proxy it trusts, set the framework's own way where it
   * has one (Express `app.set('trust proxy', 1)`; Fastify `trustProxy: '127.0.0.1'`, the proxy
   * by address, as Fastify 5 reads a hop count as trusting none; Koa `app.proxy` with
   * `maxIpsCount: 1`; the node adapter's `trustProxy: 1`): then the last `X-Forwarded-For` and
   * `X-Forwarded-Proto` entries are believed; otherwise they are ignored.
   */
  trustProxy: boolean;
}

/** What `runAdapterConformance` tests. */
export interface AdapterConformanceOptions {
  /** Shown in test names. */
  name: string;
  /** Starts an app with the routes `AdapterApp` lists on a free loopback port. */
  start(options: AdapterAppOptions): Promise<AdapterApp>;
  /** When set, the suite is skipped and this reason printed. */
  skip?: string | false;
}
