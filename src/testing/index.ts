export { runStoreConformance, type ConformanceOptions } from './conformance.js';
export { makeRecord, opaqueTestCodec, countingStore, type StoreOperation } from './fixtures.js';
