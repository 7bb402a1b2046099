export { RedisStore } from './store.js';
export type { RedisStoreOptions } from './options.js';
export type { RedisClientLike, RedisClusterLike } from './transport.js';
