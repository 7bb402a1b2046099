import { describe } from 'node:test';
import { adapterContext } from './context.js';
import { cookieCases } from './cookies.js';
import type { AdapterConformanceOptions } from './harness.js';
import { loginCases } from './login.js';

export type { AdapterApp, AdapterAppOptions, AdapterConformanceOptions } from './harness.js';

/**
 * The contract every adapter meets, over real HTTP, as node:test suites: the HTTP-level twin of
 * `runStoreConformance`. Give it a way to start an app that serves the routes `AdapterApp` lists
 * through the adapter under test; the suite builds the manager (over a memory store it can make
 * fail), starts two apps on it (one trusting one reverse proxy, one trusting none), sends them
 * requests with `fetch` to 127.0.0.1 and checks every response.
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
 *     return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
 *   },
 * });
 */
export function runAdapterConformance(options: AdapterConformanceOptions): void {
  describe(`adapter conformance: ${options.name}`, { skip: options.skip || false }, () => {
    const ctx = adapterContext(options);
    cookieCases(ctx);
    loginCases(ctx);
  });
}
