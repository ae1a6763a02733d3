// The shape of the Redis client a RedisStore is given: the few ioredis members it uses, and nothing else.

/**
 * The part of an ioredis client (v5) the store uses; an ioredis `Redis` or `Cluster` instance fits.
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
