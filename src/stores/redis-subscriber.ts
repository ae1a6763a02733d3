// FreedSubscriber: the pub/sub connection on which a RedisStore hears other processes' settles, releases
// and refunds.
import type { RedisLike } from './redis-like.js';

/**
 * What an announcement on the channel (or a new subscription, `'unknown'`) may have freed: `'amend'`
 * gave room back to the windows of a currency.
 */
export type FreedKind = 'settle' | 'release' | 'amend' | 'unknown';

/** What the scripts announce on the channel: a freed kind, or news the store reads itself (`announced`). */
export type Announcement = string;

/**
 * The pub/sub half of a `RedisStore`: one connection (`redis.duplicate()`), made the first time a
 * refusal can be ended by a release, kept until `close()`. It calls `onMessage` with every announcement
 * on the channel, and with `'unknown'` every time a subscription takes effect (anything announced
 * before it was missed).
 */
export class FreedSubscriber {
  readonly #redis: RedisLike;
  readonly #channel: string;
  readonly #onMessage: (message: Announcement) => void;
  /** Created by the first `ensure()`; never replaced (ioredis and node-redis both reconnect and resubscribe it). */
  #subscriber: RedisLike | undefined = undefined;
  /** True once a SUBSCRIBE succeeded: later `'ready'` events are the client's own resubscriptions. */
  #subscribed = false;
  #subscribing = false;

  constructor(redis: RedisLike, channel: string, onMessage: (message: Announcement) => void) {
    this.#redis = redis;
    this.#channel = channel;
    this.#onMessage = onMessage;
  }

  /** Makes sure the subscription exists or is on its way. */
  ensure(): void {
    if (this.#subscriber === undefined) {
      const subscriber = this.#redis.duplicate();
      this.#subscriber = subscriber;
      subscriber.on('message', this.#onChannel);
      subscriber.on('ready', this.#onReady);
      // Its connection errors need a listener (ioredis logs unhandled ones, node-redis throws them); the
      // store's own client reports outages.
      subscriber.on('error', ignore);
    }
    // Not ready yet: its 'ready' subscribes (a client without an offline queue refuses commands before).
    if (this.#subscriber.status === 'ready') this.#subscribe();
  }

  /** Unsubscribes (through `send`, which bounds the wait) and disconnects; the caller's client is untouched. */
  async close(send: (command: () => Promise<unknown>) => Promise<unknown>): Promise<void> {
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    this.#subscriber = undefined;
    subscriber.off('message', this.#onChannel);
    subscriber.off('ready', this.#onReady);
    if (this.#subscribed && subscriber.status === 'ready') {
      await send(() => subscriber.unsubscribe(this.#channel)).catch(ignore);
    }
    // Its 'error' listener stays: a connection error while it shuts down must not go unhandled.
    subscriber.disconnect();
  }

  #subscribe(): void {
    const subscriber = this.#subscriber;
    if (subscriber === undefined || this.#subscribed || this.#subscribing) return;
    this.#subscribing = true;
    subscriber.subscribe(this.#channel).then(
      () => {
        this.#subscribing = false;
        if (this.#subscriber !== subscriber) return;
        this.#subscribed = true;
        this.#onMessage('unknown');
      },
      () => {
        // Tried again at its next 'ready' or the next `ensure()`; meanwhile waits end at lease expiry.
        this.#subscribing = false;
      },
    );
  }

  readonly #onReady = (): void => {
    if (this.#subscribed) this.#onMessage('unknown');
    else this.#subscribe();
  };

  /** Passes on what the scripts announce; the store reads it (`'unknown'` when room may have freed unseen). */
  readonly #onChannel = (channel: string, message: string): void => {
    if (channel === this.#channel) this.#onMessage(message);
  };
}

function ignore(): void {}
