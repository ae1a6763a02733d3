// NodeRedisAdapter: a node-redis client or cluster seen as the ioredis shape the store speaks. The
// mapping is checked here against mocks; test/integration/redis-store.test.ts and store-redis.test.ts
// run the store through a real node-redis client.
import { EventEmitter } from 'node:events';
import { ReplyError } from 'ioredis';
import { ClientClosedError, ErrorReply, SimpleError } from 'redis';
import { describe, expect, it, vi } from 'vitest';
import { isReplyError } from '../../../src/stores/redis-connection.js';
import { NodeRedisAdapter } from '../../../src/stores/redis-node-adapter.js';

type Listener = (message: string, channel: string) => unknown;

/** A node-redis client's members as mocks on a real EventEmitter; `getSlotMaster` makes it a cluster. */
class FakeNodeRedis extends EventEmitter {
  isOpen: boolean;
  isReady: boolean;
  /** What a view made by `withTypeMapping` sends scripts with. */
  readonly scripts = { evalSha: vi.fn(async () => 'sha reply'), eval: vi.fn(async () => 'eval reply') };
  readonly subscriptions = new Map<string, Listener>();
  readonly copies: FakeNodeRedis[] = [];
  readonly evalSha = vi.fn(async () => 'unmapped');
  readonly eval = vi.fn(async () => 'unmapped');
  readonly withTypeMapping = vi.fn(() => Object.assign(Object.create(this) as FakeNodeRedis, this.scripts));
  readonly duplicate = vi.fn((): FakeNodeRedis => {
    const copy = new FakeNodeRedis({ isOpen: false, isReady: false });
    this.copies.push(copy);
    return copy;
  });
  readonly connect = vi.fn(async (): Promise<unknown> => this);
  readonly subscribe = vi.fn(async (channels: string[], listener: Listener) => {
    for (const channel of channels) this.subscriptions.set(channel, listener);
  });
  readonly unsubscribe = vi.fn(async (channels: string[], _listener: Listener) => {
    for (const channel of channels) this.subscriptions.delete(channel);
  });
  readonly destroy = vi.fn();

  constructor(options: { isOpen?: boolean; isReady?: boolean } = {}) {
    super();
    this.isOpen = options.isOpen ?? true;
    this.isReady = options.isReady ?? true;
  }

  /** What node-redis does when a message comes on `channel`. */
  publish(channel: string, message: string): void {
    this.subscriptions.get(channel)?.(message, channel);
  }
}

class FakeNodeRedisCluster extends FakeNodeRedis {
  readonly getSlotMaster = vi.fn();
}

/** ioredis's ReplyError comes untyped from redis-errors. */
const IORedisReplyError = ReplyError as unknown as new (message: string) => Error;

describe('NodeRedisAdapter', () => {
  it("status: 'ready' while ready, 'connecting' while open but not ready, 'wait' while not open", () => {
    const client = new FakeNodeRedis();
    const adapter = new NodeRedisAdapter(client);
    expect(adapter.status).toBe('ready');
    client.isReady = false;
    expect(adapter.status).toBe('connecting');
    client.isOpen = false;
    expect(adapter.status).toBe('wait');
  });

  it('status of a cluster without isReady (some node-redis 5 releases): ready while open', () => {
    const client = new FakeNodeRedisCluster();
    Object.defineProperty(client, 'isReady', { value: undefined });
    const adapter = new NodeRedisAdapter(client);
    expect(adapter.status).toBe('ready');
    client.isOpen = false;
    expect(adapter.status).toBe('wait');
  });

  it('sends evalsha and eval as evalSha and eval with keys and arguments as strings, on a view with the default type mapping', async () => {
    const client = new FakeNodeRedis();
    const scripts = client.scripts;
    const adapter = new NodeRedisAdapter(client);
    expect(client.withTypeMapping).toHaveBeenCalledWith({});

    await expect(adapter.evalsha('abc', 2, 'rlc:{k}:log', 'rlc:{k}:state', 'id', 3, 0.5, -1)).resolves.toBe('sha reply');
    expect(scripts.evalSha).toHaveBeenCalledWith('abc', { keys: ['rlc:{k}:log', 'rlc:{k}:state'], arguments: ['id', '3', '0.5', '-1'] });
    await expect(adapter.eval('return 1', 0, 7)).resolves.toBe('eval reply');
    expect(scripts.eval).toHaveBeenCalledWith('return 1', { keys: [], arguments: ['7'] });
    // Never on the caller's own view, whose typeMapping may turn strings into Buffers.
    expect(client.evalSha).not.toHaveBeenCalled();
    expect(client.eval).not.toHaveBeenCalled();
  });

  it("passes a reply error on as it is: NOSCRIPT is found by its message, and it counts as Redis's answer", async () => {
    const client = new FakeNodeRedis();
    const scripts = client.scripts;
    const noScript = new SimpleError('NOSCRIPT No matching script. Please use EVAL.');
    scripts.evalSha.mockRejectedValueOnce(noScript);
    await expect(new NodeRedisAdapter(client).evalsha('abc', 0)).rejects.toBe(noScript);
    expect(isReplyError(noScript)).toBe(true);
  });

  it("a client's 'ready' and 'error' are the store's; 'message' is the adapter's own", () => {
    const client = new FakeNodeRedis();
    const adapter = new NodeRedisAdapter(client);
    const ready = vi.fn();
    const message = vi.fn();
    adapter.on('ready', ready).on('error', ready).on('message', message);
    expect(client.listenerCount('ready')).toBe(1);
    expect(client.listenerCount('error')).toBe(1);
    expect(client.listenerCount('message')).toBe(0);
    client.emit('ready');
    expect(ready).toHaveBeenCalledTimes(1);
    adapter.off('ready', ready).off('error', ready).off('message', message);
    expect(client.eventNames()).toEqual([]);
  });

  it("a cluster's 'connect' (its slots known) and 'node-ready' (a node connected again) are the store's 'ready'", () => {
    const client = new FakeNodeRedisCluster();
    const adapter = new NodeRedisAdapter(client);
    const ready = vi.fn();
    adapter.on('ready', ready);
    client.emit('connect');
    client.emit('node-ready', { host: '127.0.0.1', port: 7000 });
    expect(ready).toHaveBeenCalledTimes(2);
    adapter.off('ready', ready);
    expect(client.eventNames()).toEqual([]);
  });

  it('duplicate() connects a copy, subscribes on it with a listener that gives messages channel first, and destroys only the copy', async () => {
    const client = new FakeNodeRedis();
    const subscriber = new NodeRedisAdapter(client).duplicate();
    const copy = client.copies[0];
    if (copy === undefined) throw new Error('no duplicate made');
    expect(copy.connect).toHaveBeenCalledTimes(1);
    expect(client.connect).not.toHaveBeenCalled();

    const heard: string[][] = [];
    subscriber.on('message', (channel: string, message: string) => heard.push([channel, message]));
    await subscriber.subscribe('rlc:{k}:freed');
    expect(copy.subscribe).toHaveBeenCalledWith(['rlc:{k}:freed'], expect.any(Function));
    copy.publish('rlc:{k}:freed', 'release');
    expect(heard).toEqual([['rlc:{k}:freed', 'release']]);

    await subscriber.unsubscribe('rlc:{k}:freed');
    // The same listener: node-redis removes only it, not another subscriber's of the channel.
    expect(copy.unsubscribe).toHaveBeenCalledWith(['rlc:{k}:freed'], copy.subscribe.mock.calls[0]?.[1]);
    subscriber.disconnect();
    expect(copy.destroy).toHaveBeenCalledTimes(1);
    expect(client.destroy).not.toHaveBeenCalled();
  });

  it('duplicate() of a client whose connection fails leaves no unhandled rejection (vitest fails a run on one)', async () => {
    const client = new FakeNodeRedis();
    const copy = new FakeNodeRedis({ isOpen: false, isReady: false });
    copy.connect.mockRejectedValueOnce(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    client.duplicate.mockReturnValueOnce(copy);
    const subscriber = new NodeRedisAdapter(client).duplicate();
    expect(copy.connect).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setImmediate(resolve));
    // node-redis goes on trying by its reconnectStrategy: the subscriber waits for its 'ready'.
    expect(subscriber.status).toBe('wait');
  });
});

describe('isReplyError', () => {
  it("knows ioredis's ReplyError and node-redis's ErrorReply (and its subclasses), not a lost connection", () => {
    expect(isReplyError(new IORedisReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(true);
    expect(isReplyError(new ErrorReply('ERR'))).toBe(true);
    expect(isReplyError(new SimpleError('WRONGTYPE'))).toBe(true);
    expect(isReplyError(new ClientClosedError())).toBe(false);
    expect(isReplyError(new Error('Connection is closed.'))).toBe(false);
    expect(isReplyError('ReplyError')).toBe(false);
  });
});
