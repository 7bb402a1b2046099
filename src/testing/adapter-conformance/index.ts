import { describe } from 'node:test';
import { badInputCases } from './bad-input.js';
import { concurrencyCases } from './concurrency.js';
import { adapterContext } from './context.js';
import { cookieCases } from './cookies.js';
import type { AdapterConformanceOptions } from './harness.js';
import { idempotencyCases } from './idempotency.js';
import { loginCases } from './login.js';
import { outageCases } from './outage.js';
import { proxyCases } from './proxy.js';
import { raceCases } from './races.js';
import { revocationCases } from './revocation.js';

export type { AdapterApp, AdapterAppOptions, AdapterConformanceOptions } from './harness.js';

/**
 * The contract every adapter meets, over real HTTP, as node:test suites: the HTTP-level twin of
 * `runStoreConformance`. Give it a way to start an app that serves the routes `AdapterApp` lists
 * through the adapter under test; the suite builds the manager (over a memory store it can make
 * fail), starts two apps on it (one trusting one reverse proxy, one trusting none), sends them
 * requests with `fetch` to 127.0.0.1 and checks every response: no 500 and no stack trace, at
 * most one session `Set-Cookie` and with it `Cache-Control: no-store`, HttpOnly, SameSite=Lax,
 * `Path=/`, no Domain and a Max-Age (Secure with the `__Host-` prefix over HTTPS, and only then),
 * and every error as `{error:{code,message}}` JSON. Its cases: the cookie over HTTP and HTTPS,
 * login, rotation and logout, 200 concurrent increments of one session, requests overlapping a
 * login, revocation and the user's session list, store outages (503 with `Retry-After`, never a
 * logout), `Idempotency-Key` retries, the client address with and without a trusted proxy, and
 * bad input.
 *
 * @example
 * runAdapterConformance({
 *   name: 'express',
 *   async start({ manager, trustProxy }) {
 *     const app = express();
 *     if (trustProxy) app.set('trust proxy', 1);
 *     app.use(session(manager));
 *     // …the routes of AdapterApp…
 *     app.use(errorHandler());
 *     const server = app.listen(0, '127.0.0.1');
 *     await once(server, 'listening');
 *     const { port } = server.address() as AddressInfo;
 *     return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
 *   },
 * });
 */
export function runAdapterConformance(options: AdapterConformanceOptions): void {
  describe(`adapter conformance: ${options.name}`, { skip: options.skip || false }, () => {
    const ctx = adapterContext(options);
    cookieCases(ctx);
    loginCases(ctx);
    concurrencyCases(ctx);
    raceCases(ctx);
    revocationCases(ctx);
    outageCases(ctx);
    idempotencyCases(ctx);
    proxyCases(ctx);
    badInputCases(ctx);
  });
}
