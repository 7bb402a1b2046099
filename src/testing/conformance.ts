import { describe } from 'node:test';
import type { SessionStore } from '../core/index.js';
import { baseContract } from './conformance/base-contract.js';
import { boundedUnderAbuse } from './conformance/bounded.js';
import { codecs } from './conformance/codecs.js';
import { conformanceContext } from './conformance/context.js';
import { lifecycleEvents } from './conformance/events.js';
import { limits } from './conformance/limits.js';
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
}

/**
 * The contract every store must meet, as node:test suites. Run it from a store's own test file:
 *
 * @example
 * runStoreConformance({ name: 'sqlite', createStore: () => new SqliteStore({ path: tmpFile() }) });
 */
export function runStoreConformance(options: ConformanceOptions): void {
  describe(`store conformance: ${options.name}`, { skip: options.skip || false }, () => {
    const ctx = conformanceContext(options);
    // In this order, so that the tests run and report as they always have.
    baseContract(ctx);
    limits(ctx);
    sessionIndex(ctx);
    codecs(ctx);
    supersededTokens(ctx);
    boundedUnderAbuse(ctx);
    lifecycleEvents(ctx);
    security(ctx);
  });
}
