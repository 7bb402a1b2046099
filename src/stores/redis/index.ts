/**
 * Sessions in Redis 7 or Valkey, single node or Cluster, through node-redis (an optional peer
 * dependency). The layout is in `docs/stores/redis.md`.
 *
 * @module tessera-session/stores/redis
 */
export { RedisStore } from './store.js';
export type { RedisStoreOptions } from './options.js';
export type { RedisClientLike, RedisClusterLike } from './transport.js';
