export { runStoreConformance, type ConformanceOptions } from './conformance.js';
export { makeRecord, opaqueTestCodec, countingStore, faultyStore, lostReplyStore, type StoreOperation } from './fixtures.js';
