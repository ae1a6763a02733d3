// The client's typed event emitter, which also mirrors each event to its diagnostics channel.
import { type ObservedClient, publishEvent } from './diagnostics.js';
import type { ClientEventName, ClientEvents, Listener } from './event-types.js';

/**
 * A small typed emitter. Unlike Node's EventEmitter, an `error` event with no listener does not throw:
 * a rate limiter must not crash a process over a report. A listener that throws is reported as an
 * `error` event (or as a process warning when that fails too) and never breaks the scheduler.
 */
export class Emitter {
  readonly #listeners = new Map<ClientEventName, Set<(...args: never[]) => void>>();
  /** The client whose events these are, named in what is published to `node:diagnostics_channel`. */
  readonly owner: ObservedClient | undefined;

  constructor(owner?: ObservedClient) {
    this.owner = owner;
  }

  on<E extends ClientEventName>(event: E, listener: Listener<E>): void {
    if (typeof listener !== 'function') throw new TypeError(`Expected the \`${event}\` listener to be a function`);
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (...args: never[]) => void);
  }

  off<E extends ClientEventName>(event: E, listener: Listener<E>): void {
    this.#listeners.get(event)?.delete(listener as (...args: never[]) => void);
  }

  has(event: ClientEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends ClientEventName>(event: E, ...args: ClientEvents[E]): void {
    if (this.owner !== undefined) publishEvent(this.owner, event, args);
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (...a: ClientEvents[E]) => void)(...args);
      } catch (error) {
        if (event !== 'error' && this.has('error')) this.emit('error', error);
        else {
          // No listener to hear it, but a diagnostics subscriber may be watching for errors.
          if (event !== 'error' && this.owner !== undefined) publishEvent(this.owner, 'error', [error]);
          process.emitWarning(`A rate-limited-client '${event}' listener threw: ${String(error)}`);
        }
      }
    }
  }
}
