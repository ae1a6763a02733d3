// NodeRedisAdapter: a node-redis client (`createClient()` or `createCluster()`) seen as the ioredis shape
// the store speaks (RedisLike), so that nothing else in the store knows which library it was given.
import type { NodeRedisLike, RedisLike } from './redis-like.js';

/** A listener of the store's, as `RedisLike.on` takes it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as RedisLike's `on`
type Listener = (...args: any[]) => void;

/**
 * The node-redis events behind each event the store listens for. A client says `'ready'` whenever its
 * connection is up again; a cluster says `'connect'` once its slots are known, and `'node-ready'` when
 * a node's connection is up (again): either may end an outage, or mean announcements were missed.
 */
const EVENTS: Record<'client' | 'cluster', Record<string, readonly string[]>> = {
  client: { ready: ['ready'], error: ['error'], message: [] },
  cluster: { ready: ['connect', 'node-ready'], error: ['error'], message: [] },
};

/** Whether `client` is a node-redis cluster (`createCluster()`), which has no single connection. */
export function isNodeRedisCluster(client: object): boolean {
  return typeof (client as { getSlotMaster?: unknown }).getSlotMaster === 'function';
}

/** node-redis takes strings (or Buffers) only: the store's numbers are sent as ioredis sends them. */
function scriptOptions(numKeys: number, args: ReadonlyArray<string | number>) {
  const all = args.map(String);
  return { keys: all.slice(0, numKeys), arguments: all.slice(numKeys) };
}

/**
 * A node-redis client or cluster as a `RedisLike`:
 * - `status`: `'ready'` while node-redis `isReady` (while `isOpen` where it has no `isReady`: some
 *   node-redis 5 clusters); `'connecting'` while open but not ready (a first
 *   connection, or a reconnection: the store tells them apart by whether it has seen `'ready'`);
 *   `'wait'` while not open (never connected, as ioredis names a `lazyConnect` client's state, or
 *   closed): the store sends nothing then, and reports it as an outage.
 * - `evalsha` and `eval`: `evalSha` and `eval` with `{ keys, arguments }`, on a view of the client
 *   that maps replies by node-redis's defaults (integers as numbers, strings as strings) whatever
 *   `typeMapping` the caller gave it, since the store reads the scripts' replies by type. A cluster
 *   sends each to the master of the first key's slot: every key of a store shares one hash tag.
 * - events: see `EVENTS`; `'message'` is the adapter's own, fed by the listener it subscribes with.
 * - `duplicate()`: a new client of the same options, connected here (node-redis does not connect it),
 *   which `disconnect()` destroys. The client the store was given is never connected nor closed.
 */
export class NodeRedisAdapter implements RedisLike {
  readonly #client: NodeRedisLike;
  /** `#client` with node-redis's default type mapping: what the scripts are sent on. */
  readonly #scripts: NodeRedisLike;
  readonly #events: Record<string, readonly string[]>;
  /** The store's `'message'` listeners: node-redis gives messages to a listener per subscription, not as an event. */
  readonly #messageListeners = new Set<Listener>();

  constructor(client: NodeRedisLike) {
    this.#client = client;
    const typed = client as NodeRedisLike & { withTypeMapping?: (mapping: object) => NodeRedisLike };
    // `withTypeMapping` makes a view (`Object.create`): nothing is sent, nothing is listened to.
    this.#scripts = typeof typed.withTypeMapping === 'function' ? typed.withTypeMapping({}) : client;
    this.#events = EVENTS[isNodeRedisCluster(client) ? 'cluster' : 'client'];
  }

  get status(): string {
    const { isOpen, isReady = isOpen } = this.#client;
    if (isReady) return 'ready';
    return isOpen ? 'connecting' : 'wait';
  }

  evalsha(sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown> {
    return this.#scripts.evalSha(sha, scriptOptions(numKeys, args));
  }

  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown> {
    return this.#scripts.eval(script, scriptOptions(numKeys, args));
  }

  on(event: string, listener: Listener): this {
    if (event === 'message') this.#messageListeners.add(listener);
    for (const name of this.#events[event] ?? [event]) this.#client.on(name, listener);
    return this;
  }

  off(event: string, listener: Listener): this {
    if (event === 'message') this.#messageListeners.delete(listener);
    for (const name of this.#events[event] ?? [event]) this.#client.off(name, listener);
    return this;
  }

  duplicate(): RedisLike {
    const copy = this.#client.duplicate();
    const adapter = new NodeRedisAdapter(copy);
    // A failed connection is an 'error' event too, which the subscriber listens for; node-redis goes on
    // trying by its reconnectStrategy, and the subscriber subscribes at the first 'ready'.
    copy.connect().catch(ignore);
    return adapter;
  }

  subscribe(...channels: string[]): Promise<unknown> {
    return this.#client.subscribe(channels, this.#onMessage);
  }

  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.#client.unsubscribe(channels, this.#onMessage);
  }

  disconnect(): void {
    this.#client.destroy();
  }

  /** node-redis calls a subscription's listener with the message first; ioredis's event has the channel first. */
  readonly #onMessage = (message: string, channel: string): void => {
    for (const listener of this.#messageListeners) listener(channel, message);
  };
}

function ignore(): void {}
