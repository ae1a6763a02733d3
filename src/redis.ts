// The `rate-limited-client/redis` entry: the Redis clients (ioredis, iovalkey, node-redis) are optional
// peer dependencies, so nothing here is reachable from the main entry, and users who do not share
// limits never load it.
export { RedisStore } from './stores/redis.js';
export type { RedisFailureMode, RedisStoreOptions, RedisStoreStats } from './stores/redis-options.js';
export type { NodeRedisLike, NodeRedisScriptOptions, RedisClient, RedisLike } from './stores/redis-like.js';
export { StoreError, type StoreOperation } from './errors/store-error.js';
