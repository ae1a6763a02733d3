// The `rate-limited-client/redis` entry: ioredis is an optional peer dependency, so nothing here is
// reachable from the main entry, and users who do not share limits never load it.
export { RedisStore } from './stores/redis.js';
export type { RedisFailureMode, RedisStoreOptions, RedisStoreStats } from './stores/redis-options.js';
export type { RedisLike } from './stores/redis-like.js';
export { StoreError, type StoreOperation } from './errors/store-error.js';
