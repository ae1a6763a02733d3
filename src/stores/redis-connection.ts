// RedisConnection: every command a RedisStore sends, bounded by commandTimeoutMs; whether Redis counts as
// down, the one report of an outage, and what ends it (an answer, a probe, the client's 'ready' event).
import { StoreError, type StoreOperation } from '../errors/store-error.js';
import type { RedisLike } from './redis-like.js';
import type { RedisFailureMode } from './redis-options.js';
import { withTimeout } from './redis-timeout.js';

const MODE_TEXT: Record<RedisFailureMode, string> = {
  local: "answering from this process's share of the limits until it is back",
  closed: 'holding work until it is back',
  open: 'letting work through without shared limits until it is back',
};

/**
 * A Redis reply error (the server answered, with an error) rather than a connection problem: ioredis's
 * and iovalkey's are named `ReplyError`; node-redis's are of its class `ErrorReply` (or a subclass,
 * `SimpleError`, `BlobError`), which keep the name `Error`.
 */
export function isReplyError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return true;
  for (
    let proto: unknown = Object.getPrototypeOf(error);
    proto !== null && proto !== Error.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    if ((proto as { constructor?: { name?: unknown } }).constructor?.name === 'ErrorReply') return true;
  }
  return false;
}

/** Why the store sends nothing on the client now, for the outage's report. */
function notReady(status: string): string {
  // 'wait': an ioredis client made with `lazyConnect`, or a node-redis client not connected (or closed).
  if (status === 'wait') {
    return 'The Redis client is not connected (status `wait`): connect it before the store is used (node-redis: `await client.connect()`; ioredis with `lazyConnect`: `await redis.connect()`)';
  }
  return `The Redis client is not ready (status \`${status}\`)`;
}

/** What the connection needs from its store: the clock, where to report, and what to do on a change. */
export interface ConnectionHooks {
  now(): number;
  report(error: StoreError): void;
  /** A write that changes nothing, to ask whether Redis takes the store's writes again. */
  probe(): Promise<void>;
  /** Redis has just come to count as down. */
  down(): void;
  /** Redis answered after an outage: whatever the outage held back may go now. */
  recovered(): void;
  /** The client is ready again although no outage was noticed: announcements made meanwhile were missed. */
  reconnected(): void;
  /** A command that timed out has failed late with nothing else outstanding: the client may ask again. */
  wake(): void;
}

/**
 * The store's one way to Redis: every command goes through `send`. Of the caller's client it uses the
 * `'ready'` event (listened to from `open()` until `detach()`) and `status`, read here only (the
 * subscriber reads its own connection's).
 */
export class RedisConnection {
  readonly #redis: RedisLike;
  readonly #key: string;
  readonly #failureMode: RedisFailureMode;
  readonly #commandTimeoutMs: number;
  readonly #hooks: ConnectionHooks;

  /** True from the first failure of an outage until Redis answers again; one report per outage. */
  #down = false;
  /** While down, when an acquire may next try Redis although no `'ready'` event has come (see `mayProbe`). */
  #probeAt = 0;
  /**
   * While down on a live connection (a server answering errors sends no event when it is well again),
   * tries Redis every `commandTimeoutMs` in the background, so that what the outage held back (starts to
   * record, settles and releases) reaches it even if this process asks nothing more.
   */
  #probeTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Commands sent and not answered yet, timed out ones included. */
  #outstanding = 0;
  /**
   * How many times the client has become ready (counted from `open()`; 1 if it was ready then). A
   * command sent on an earlier connection and answered on a later one was resent by ioredis to a
   * server that may have lost everything since.
   */
  #connections = 0;
  /** Resolved by the next `'ready'` of the client: commands waiting for its first connection. */
  #readyWaiters: Array<() => void> = [];
  /** Fire-and-forget commands sent and not answered: `drain()` waits for them. */
  readonly #background = new Set<Promise<void>>();
  /** Set by `close()`: no outage is reported or probed for from then on. */
  #closed = false;

  constructor(redis: RedisLike, options: { key: string; failureMode: RedisFailureMode; commandTimeoutMs: number }, hooks: ConnectionHooks) {
    this.#redis = redis;
    this.#key = options.key;
    this.#failureMode = options.failureMode;
    this.#commandTimeoutMs = options.commandTimeoutMs;
    this.#hooks = hooks;
  }

  /** Whether Redis counts as down now. */
  get down(): boolean {
    return this.#down;
  }

  /** Whether the client is connected now: nothing is sent otherwise (ioredis would queue it offline, or refuse it). */
  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  /** How many times the client has become ready: a command answered on a later connection than it was sent on was resent. */
  get connections(): number {
    return this.#connections;
  }

  /** Starts listening for the client's `'ready'`. */
  open(): void {
    this.#redis.on('ready', this.#onReady);
    if (this.#redis.status === 'ready') this.#connections = 1;
  }

  /**
   * Whether an acquire may be sent now. Connecting for the first time: give it one command's time.
   * Connecting again after it was ready is a reconnection, an outage: the failure mode answers at once.
   */
  usable(): boolean {
    const status = this.#redis.status;
    const firstConnection = this.#connections === 0 && (status === 'connecting' || status === 'connect');
    return status === 'ready' || firstConnection;
  }

  /** Resolves at the client's next `'ready'`. */
  nextReady(): Promise<void> {
    return new Promise<void>((resolve) => this.#readyWaiters.push(resolve));
  }

  /**
   * Whether an acquire may try Redis while it is down. A lost connection ends with the client's
   * `'ready'` event, and a command that timed out on a live connection with its late answer; but a
   * server that answers errors (a read-only replica after a failover, say) sends no event: so, once
   * `commandTimeoutMs` has passed and nothing is outstanding, the next acquire asks Redis again.
   */
  mayProbe(now: number): boolean {
    return this.ready && this.#outstanding === 0 && now >= this.#probeAt;
  }

  /** While down, how long until an acquire may probe Redis; Infinity while only an event can tell. */
  probeWait(now: number): number {
    // No event announces that Redis stopped answering errors on a live connection: ask again then.
    return this.ready && this.#outstanding === 0 ? Math.max(1, this.#probeAt - now) : Infinity;
  }

  /** `operation` found the client not ready: that is an outage from here. */
  failNotReady(operation: StoreOperation): void {
    this.failed(new Error(notReady(this.#redis.status)), operation);
  }

  /**
   * Whether a fire-and-forget command must not go out now: Redis counts as down, or the connection is
   * found not ready, which makes it count as down from here.
   */
  holdsBack(operation: StoreOperation): boolean {
    if (!this.#down && !this.ready) this.failNotReady(operation);
    return this.#down;
  }

  /** A command failed: Redis counts as down, reported once per outage. */
  failed(error: unknown, operation: StoreOperation): void {
    this.#probeAt = this.#hooks.now() + this.#commandTimeoutMs;
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.#hooks.down();
    this.#armProbe();
    const replied = isReplyError(error);
    const what = replied ? `Redis answered an error to ${operation}` : 'Redis is unreachable';
    const detail = error instanceof Error ? error.message : String(error);
    this.#hooks.report(
      new StoreError(`${what} (store \`${this.#key}\`): ${detail}; ${MODE_TEXT[this.#failureMode]}`, replied ? operation : 'connection', {
        cause: error,
      }),
    );
  }

  /** Redis answered: an outage is over, and whatever it held back may go now. */
  recovered(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#hooks.recovered();
  }

  /**
   * Runs one Redis command within `commandTimeoutMs`. One that times out is still watched: a late
   * answer means Redis is back (and `late` gets it); a late failure with nothing else outstanding
   * wakes the client, whose next acquire may then probe Redis (see `mayProbe`).
   */
  send<T>(command: () => Promise<T>, late?: (value: T) => void): Promise<T> {
    let sent: Promise<T>;
    try {
      sent = command();
    } catch (error) {
      sent = Promise.reject(error);
    }
    this.#outstanding++;
    const settled = () => {
      this.#outstanding--;
    };
    sent.then(settled, settled);
    return withTimeout(sent, this.#commandTimeoutMs, {
      answered: (value) => {
        // Even after close(): a late grant must still be given back.
        late?.(value);
        if (!this.#closed) this.recovered();
      },
      failed: () => {
        if (this.#outstanding === 0) this.#hooks.wake();
      },
    });
  }

  /** A fire-and-forget command, which `drain()` waits for; it never rejects. */
  track(done: Promise<void>): void {
    this.#background.add(done);
    void done.finally(() => this.#background.delete(done));
  }

  /** Stops probing; no outage is reported from now on. Commands already sent go on. */
  close(): void {
    this.#closed = true;
    if (this.#probeTimer !== undefined) clearTimeout(this.#probeTimer);
  }

  /** Settles once every tracked command has. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#background]);
  }

  /** Removes the `'ready'` listener; commands still waiting for a first connection are dropped. */
  detach(): void {
    this.#redis.off('ready', this.#onReady);
    this.#readyWaiters = [];
  }

  #armProbe(): void {
    if (this.#probeTimer !== undefined || this.#closed) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined;
      if (!this.#down || this.#closed) return;
      // A dropped connection ends with the client's 'ready'; only a live one needs asking.
      if (this.ready && this.#outstanding === 0) {
        this.send(() => this.#hooks.probe()).then(
          () => this.recovered(),
          () => this.#armProbe(),
        );
      } else {
        this.#armProbe();
      }
    }, this.#commandTimeoutMs);
    this.#probeTimer.unref();
  }

  readonly #onReady = (): void => {
    this.#connections++;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const resolve of waiters) resolve();
    if (this.#down) {
      this.recovered();
      return;
    }
    this.#hooks.reconnected();
  };
}
