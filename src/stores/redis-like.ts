// The shapes of the Redis clients a RedisStore is given: the few members of each it uses, and nothing
// else, so that no client library's types (all optional peers) are needed to use the store.

/**
 * The part of an ioredis client the store uses: an ioredis 5 or 6 `Redis` or `Cluster`, or an iovalkey
 * `Redis` or `Cluster` (ioredis's fork, same API), fits as it is. It is also what the store speaks
 * inside: a node-redis client is adapted to it (see `NodeRedisLike`).
 * The store checks for `evalsha`, `eval`, `duplicate`, `on` and `off` when it is created.
 */
export interface RedisLike {
  /**
   * Runs a script Redis has cached, by its SHA1 (`EVALSHA`). Rejects with an error whose message starts
   * with `NOSCRIPT` when Redis does not have it (after a restart or a `SCRIPT FLUSH`).
   */
  evalsha(sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  /** Runs a script from its source (`EVAL`), which caches it again: sent when `evalsha` was answered `NOSCRIPT`. */
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  /**
   * The connection's state, as ioredis names it. The store sends nothing unless it is `'ready'`, except
   * on a first connection still on its way (`'connecting'` or `'connect'`).
   */
  readonly status: string;
  // `any[]` in `on` and `off`: Node's EventEmitter declares listeners so, and it lets a caller write a
  // typed listener such as `(channel: string, message: string) => void`, which `unknown[]` would refuse.
  /**
   * Adds an event listener. The store listens for `'ready'` (connected, again or for the first time) on
   * this client, and for `'ready'`, `'message'` and `'error'` on its subscriber (see `duplicate`).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Removes a listener added by `on`: the store's own, when it closes. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** A second connection to the same server(s), for the pub/sub subscriber. */
  duplicate(): RedisLike;
  /** Subscribes to pub/sub channels: called on the subscriber only, for the channel releases are announced on. */
  subscribe(...channels: string[]): Promise<unknown>;
  /** Ends a subscription: called on the subscriber only, when the store closes. */
  unsubscribe(...channels: string[]): Promise<unknown>;
  /** Closes the connection at once: called on the store's own subscriber only, never on the client it was given. */
  disconnect(): void;
}

/** The keys and arguments of a script, as node-redis takes them. */
export interface NodeRedisScriptOptions {
  /** The script's KEYS: the store's keys in Redis, all under one hash tag. */
  keys: string[];
  /** The script's ARGV, every value as a string. */
  arguments: string[];
}

/**
 * The part of a node-redis client (`redis` on npm, 5 and newer) the store uses: what `createClient()`
 * and `createCluster()` return fits as it is. The store turns it into a `RedisLike` (see
 * `redis-node-adapter.ts`); it checks for `evalSha`, `eval`, `duplicate` and a boolean `isOpen` when it
 * is created.
 */
export interface NodeRedisLike {
  /** Whether the client has been connected (`connect()`) and not closed since: false until then. */
  readonly isOpen: boolean;
  /**
   * Whether the connection is up now (for a cluster: whether its slots are known). Some node-redis 5
   * releases have none on a cluster: it then counts as ready while open.
   */
  readonly isReady?: boolean | undefined;
  /** `EVALSHA`: rejects with an `ErrorReply` whose message starts with `NOSCRIPT` when Redis lost the script. */
  evalSha(sha: string, options: NodeRedisScriptOptions): Promise<unknown>;
  /** `EVAL`: sent when `evalSha` was answered `NOSCRIPT`. */
  eval(script: string, options: NodeRedisScriptOptions): Promise<unknown>;
  /** A new client with the same options, not connected: the store connects it for its subscriber. */
  duplicate(): NodeRedisLike;
  /** Connects a client made by `duplicate()` (the store never connects the client it was given). */
  connect(): Promise<unknown>;
  // `any` in the listeners: node-redis types them generic over `string | Buffer` (by a `bufferMode`
  // argument the store does not pass), which a listener of strings would not fit.
  /** Subscribes with a listener, given `(message, channel)`: called on the store's own duplicate only. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  subscribe(channels: string[], listener: (message: any, channel: any) => unknown): Promise<unknown>;
  /** Removes that listener: called on the store's own duplicate only, when the store closes. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  unsubscribe(channels: string[], listener: (message: any, channel: any) => unknown): Promise<unknown>;
  /** Closes the connection at once: called on the store's own duplicate only. */
  destroy(): unknown;
  /** Adds an event listener: `'ready'` and `'error'` (a cluster's `'connect'`, `'node-ready'` and `'error'`). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as RedisLike's `on`
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Removes a listener added by `on`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as RedisLike's `on`
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * A Redis client `RedisStore` accepts, told apart by its members when the store is created:
 * - ioredis 5 or 6, or iovalkey: a `Redis` or a `Cluster` (`RedisLike`);
 * - node-redis 5 or newer: a `createClient()` or a `createCluster()` client (`NodeRedisLike`).
 */
export type RedisClient = RedisLike | NodeRedisLike;
