import { describe } from 'node:test';
import type { CacheOptions, SessionStore } from '../core/index.js';
import { cacheCases } from './conformance/cache.js';
import { baseContract } from './conformance/base-contract.js';
import { boundedUnderAbuse } from './conformance/bounded.js';
import { codecs } from './conformance/codecs.js';
import { conformanceContext } from './conformance/context.js';
import { lifecycleEvents } from './conformance/events.js';
import { sessionNotices } from './conformance/notices.js';
import { limits } from './conformance/limits.js';
import { outboxCases } from './conformance/outbox.js';
import { security } from './conformance/security.js';
import { sessionIndex } from './conformance/session-index.js';
import { supersededTokens } from './conformance/superseded.js';

/** What `runStoreConformance` tests and how. */
export interface ConformanceOptions {
  /** Shown in test names. */
  name: string;
  /** A fresh, empty store for each test; it is closed after the test. */
  createStore(): Promise<SessionStore> | SessionStore;
  /** Runs once before the suite, for example to start or check a server. */
  setup?(): Promise<void> | void;
  /** Runs once after the suite, for example to stop a server `setup` started. */
  teardown?(): Promise<void> | void;
  /** When set, the suite is skipped and this reason printed (for example, a service is not running). */
  skip?: string | false;
  /** Concurrent requests in the no-lost-update cases. @default 200 */
  concurrency?: number;
  /**
   * Runs the whole suite with the in-process cache in front of the store (`cachedStore`), plus the
   * cache's own cases: several instances, revocation seen by each, no lost update, no resurrection.
   * @default undefined (no cache)
   */
  cache?: CacheOptions | true;
  /**
   * Another store object on the data of the store `createStore` last returned, as another app
   * instance would open it: the cache cases run their instances on these. Without it, the
   * instances are managers sharing the one store object (right for the memory store).
   */
  peer?(): Promise<SessionStore> | SessionStore;
}

/**
 * The contract every store must meet, as node:test suites. Run it from a store's own test file:
 *
 * @example
 * runStoreConformance({ name: 'sqlite', createStore: () => new SqliteStore({ path: tmpFile() }) });
 */
export function runStoreConformance(options: ConformanceOptions): void {
  const title = options.cache === undefined ? options.name : `${options.name}, cached`;
  describe(`store conformance: ${title}`, { skip: options.skip || false }, () => {
    const ctx = conformanceContext(options);
    // In this order, so that the tests run and report as they always have.
    baseContract(ctx);
    limits(ctx);
    sessionIndex(ctx);
    codecs(ctx);
    supersededTokens(ctx);
    boundedUnderAbuse(ctx);
    lifecycleEvents(ctx);
    sessionNotices(ctx);
    security(ctx);
    outboxCases(ctx);
    if (options.cache !== undefined) cacheCases(ctx, options);
  });
}
