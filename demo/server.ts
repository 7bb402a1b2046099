/**
 * The demo that `npm start` runs: the interactive page of the Redis session guide, on tessera,
 * with node:http and the framework-free adapter. Configuration comes from the environment (see
 * `config.ts`); the JSON API is in `api.ts`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BadRequestError,
  InvalidOptionError,
  SessionManager,
  encryptionCodec,
  parseKeyRing,
  type SessionManagerOptions,
} from 'tessera-session';
import { mountAdmin } from './admin.js';
import { mountMetrics } from './metrics.js';
import { BODY_LIMIT, handleApi } from './api.js';
import { ConfigError, loadConfig } from './config.js';
import { createLimitedServer, describeLimits, sendError, sendJson } from './http.js';
import { setCommonHeaders, StaticFiles } from './static.js';
import { openLegacy } from './legacy.js';
import { openStore } from './store.js';
import { loadWebhooks, WebhookConfigError } from './webhooks.js';

function fail(message: string): never {
  console.error(`tessera demo: ${message}`);
  process.exit(1);
}

/** The URL to print: a wildcard bind is reachable on loopback; IPv6 literals need brackets. */
function displayUrl(address: AddressInfo): string {
  const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  let codec: SessionManagerOptions['codec'];
  if (config.encryptionKeys !== null) {
    try {
      codec = encryptionCodec(parseKeyRing(config.encryptionKeys));
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new ConfigError(`TESSERA_ENCRYPTION_KEYS: ${error.message}`);
      throw error;
    }
  }
  const webhooks = loadWebhooks(process.env);
  const files = new StaticFiles();
  const store = await openStore(config.store);
  const legacy = config.legacy === null ? null : await openLegacy(config.legacy);
  const options: SessionManagerOptions = {
    store: store.store,
    ...(config.maxSessionsPerSubject !== null ? { maxSessionsPerSubject: config.maxSessionsPerSubject } : {}),
    ...(config.anonymousSessionLimit !== null ? { anonymousSessionLimit: config.anonymousSessionLimit } : {}),
    onLimit: config.onLimit,
    ...(config.idleTimeout !== null ? { idleTimeout: config.idleTimeout } : {}),
    ...(config.absoluteTimeout !== null ? { absoluteTimeout: config.absoluteTimeout } : {}),
    ...(codec !== undefined ? { codec } : {}),
    ...(config.renewalInterval !== null ? { renewalInterval: config.renewalInterval } : {}),
    ...(config.bruteForceLimit !== null ? { bruteForceLimit: config.bruteForceLimit } : {}),
    bruteForceAction: config.bruteForceAction,
    ...(config.cache !== null ? { cache: config.cache } : {}),
    ...(legacy !== null ? { adopt: legacy.adopt } : {}),
    ...(webhooks !== null ? { webhooks } : {}),
  };
  let manager: SessionManager;
  try {
    manager = new SessionManager(options);
  } catch (error) {
    await store.store.close();
    await legacy?.close();
    throw error;
  }

  const { trustProxy, admins } = config;
  const admin = admins === null ? null : mountAdmin(manager, admins, trustProxy);
  const metrics = config.metrics ? mountMetrics(manager) : null;
  const server = createLimitedServer(config.limits, (req: IncomingMessage, res: ServerResponse) => {
    setCommonHeaders(res);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      req.resume();
      sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'malformed request target' } });
      return;
    }
    // No request the demo takes is this large: refused before any of it is read, and the
    // connection closed rather than drained (see sendError).
    if (Number(req.headers['content-length']) > BODY_LIMIT) {
      sendError(res, new BadRequestError(`request body over ${BODY_LIMIT} bytes`));
      return;
    }
    const { pathname } = url;
    if (pathname.startsWith('/api/')) {
      handleApi(req, res, url, { manager, store, trustProxy, admins }).catch((error: unknown) => {
        console.error('tessera demo: unexpected failure', error);
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
        else res.destroy();
      });
      return;
    }
    if (admin?.(req, res, pathname) === true) return;
    if (metrics?.handle(req, res, pathname) === true) return;
    files.serve(req, res, pathname);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: NodeJS.ErrnoException) => {
    manager.close();
    await store.store.close();
    await legacy?.close();
    fail(`cannot listen on ${config.host}:${config.port}: ${error.code ?? error.message}`);
  });

  console.log(`tessera demo store: ${store.label}${codec !== undefined ? ' (data encrypted)' : ''}`);
  if (legacy !== null) console.log(`tessera demo legacy sessions: ${legacy.label}`);
  if (webhooks !== null) console.log(`tessera demo webhooks: session endings POSTed to ${webhooks.options.url}`);
  console.log(`tessera demo limits: ${describeLimits(config.limits, trustProxy)}`);
  console.log(`tessera demo listening on ${displayUrl(server.address() as AddressInfo)}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second Ctrl-C means "now".
      process.exit(130);
    }
    stopping = true;
    console.log(`tessera demo: ${signal}, shutting down`);
    server.close();
    server.closeIdleConnections();
    // Requests still running get a moment to finish before their connections are cut.
    const force = setTimeout(() => server.closeAllConnections(), 2000);
    force.unref();
    server.once('close', () => {
      admin?.close();
      metrics?.close();
      manager.close();
      // Deliveries under way finish (and are acknowledged in the store) before the store closes.
      Promise.resolve(webhooks?.close())
        .then(() => Promise.all([store.store.close(), legacy?.close()]))
        .then(
          () => process.exit(0),
          (error: unknown) => fail(`closing the store failed: ${(error as Error).message}`),
        );
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof WebhookConfigError) fail(error.message);
  // Store or option errors at start-up (unopenable file, bad option) are reported the same way: a message, no stack.
  fail(error instanceof Error ? error.message : String(error));
});
