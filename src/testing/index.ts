/**
 * `tessera-session/testing`: for an app's tests, a clock that moves only when told to and a
 * cookie of a logged-in session; for store authors, the conformance suite every store here passes
 * and the fixtures it is built with.
 *
 * @module tessera-session/testing
 */
export { ManualClock } from '../core/clock.js';
export { loginCookie, type LoginCookieOptions } from './login-cookie.js';
export { runStoreConformance, type ConformanceOptions } from './conformance.js';
export { makeRecord, opaqueTestCodec, countingStore, faultyStore, lostReplyStore, type StoreOperation } from './fixtures.js';
export {
  runAdapterConformance,
  type AdapterApp,
  type AdapterAppOptions,
  type AdapterConformanceOptions,
} from './adapter-conformance/index.js';
