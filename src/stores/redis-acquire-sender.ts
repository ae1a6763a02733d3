// AcquireSender: one acquire's round trip to Redis and its race with the failure mode: it waits for a
// first connection and for the outage's RECORD, and gives back a grant whose answer came too late.
import type { StoreLimits, StoreSlot } from '../core/store.js';
import type { RedisConnection } from './redis-connection.js';
import type { FallbackGrants } from './redis-fallback-grants.js';
import { type Grant, hasLease } from './redis-grant.js';
import type { AcquireReply, AcquireRequest, RedisScripts } from './redis-scripts.js';

function ignore(): void {}

/** The store's settings every acquire carries. */
export interface AcquireSettings {
  readonly clientId: string;
  readonly leaseTtlMs: number;
  readonly marginMs: number;
  readonly clientTtlMs: number;
  /** How long a waiting process's word on its priority outlives its refusal's wait (see FLEET_CHECKS). */
  readonly priorityHoldMs: number;
}

/**
 * Sends a `RedisStore`'s acquires. Each goes out behind the settles and releases already sent, once the
 * client is ready and the starts made during an outage are recorded, and is bounded by
 * `commandTimeoutMs` like every command.
 */
export class AcquireSender {
  readonly #connection: RedisConnection;
  readonly #scripts: Pick<RedisScripts, 'acquire' | 'release'>;
  readonly #fallback: FallbackGrants;
  readonly #settings: AcquireSettings;
  readonly #now: () => number;

  constructor(
    connection: RedisConnection,
    scripts: Pick<RedisScripts, 'acquire' | 'release'>,
    fallback: FallbackGrants,
    settings: AcquireSettings,
    now: () => number,
  ) {
    this.#connection = connection;
    this.#scripts = scripts;
    this.#fallback = fallback;
    this.#settings = settings;
    this.#now = now;
  }

  /**
   * Asks Redis for `grant` under `limits` (and `key`'s windows, for a keyed start); `asked` says whether
   * this process has other tasks waiting (`more`), how many more starts of the kind it could use at once
   * (`extra`: a batch) and which shared windows it knows; `answered` makes the acquire's answer of Redis's reply. If Redis fails or does not answer within `commandTimeoutMs`, it
   * counts as down and the failure mode answers instead: a grant it makes takes the same id.
   */
  send(
    slot: StoreSlot,
    grant: Grant,
    limits: StoreLimits,
    key: AcquireRequest['key'],
    asked: { readonly more: boolean; readonly extra: number; readonly policyVersion: number },
    answered: (reply: AcquireReply) => number,
  ): Promise<number> {
    const connection = this.#connection;
    const request: AcquireRequest = {
      id: grant.id,
      clientId: this.#settings.clientId,
      weight: slot.weight,
      cost: grant.estimate,
      settle: slot.settleAtStart,
      concurrency: limits.concurrency,
      leaseTtlMs: this.#settings.leaseTtlMs,
      marginMs: this.#settings.marginMs,
      clientTtlMs: this.#settings.clientTtlMs,
      priority: slot.priority ?? 0,
      more: asked.more,
      extra: asked.extra,
      holdMs: this.#settings.priorityHoldMs,
      policyVersion: asked.policyVersion,
      windows: limits.windows,
      key,
    };
    // Set once the failure mode has answered this acquire (it timed out before its answer came).
    let answeredDown = false;
    const send = async (): Promise<AcquireReply> => {
      if (!connection.ready) await connection.nextReady();
      // Starts made without Redis must be in its log before it grants anything more. Awaited, not just
      // sent first: a NOSCRIPT retry of one command could let the other overtake it.
      await this.#fallback.record();
      // Timed out while it waited to be sent: a fallback grant may hold its id, and a RECORD of it may
      // already be ahead on the connection, where `late` could not undo a grant of the same id.
      if (answeredDown) throw new Error('acquire not sent: the failure mode answered it first');
      if (request.settle) grant.askedAt = this.#now();
      return this.#scripts.acquire(request);
    };
    // The failure mode answered the acquire that timed out; a fallback grant takes the same id.
    let fallback: Grant | undefined;
    // A grant whose answer came too late is given back, even after close() or while counted as down:
    // Redis has just answered, and it must not hold room until its lease expires. Unless a RECORD of
    // the fallback grant has been sent: it comes after the acquire on the connection, and undoes it.
    const late = (reply: AcquireReply) => {
      if (!reply.granted || fallback?.recordSent === true || !hasLease(grant)) return;
      connection.track(connection.send(() => this.#scripts.release([grant.id])).then(ignore, ignore));
    };
    return connection.send(send, late).then(answered, (error: unknown) => {
      answeredDown = true;
      connection.failed(error, 'acquire');
      const wait = this.#fallback.answer(slot, this.#now(), grant.id);
      if (wait === 0) fallback = slot.storeData as Grant;
      return wait;
    });
  }
}
