export { runStoreConformance, type ConformanceOptions } from './conformance.js';
export { makeRecord, opaqueTestCodec, countingStore, faultyStore, type StoreOperation } from './fixtures.js';
