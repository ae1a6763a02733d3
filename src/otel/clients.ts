// The clients an instrument() handle reports on: found through the diagnostics channels, held weakly.
import type { Attributes } from '@opentelemetry/api';
import type { ObservedClient } from '../core/diagnostics.js';
import type { ClientStats } from '../core/options.js';
import { ATTR } from './names.js';

/**
 * One client as the metrics see it. It holds the client only through a WeakRef, and the attribute
 * sets its metrics use, built once: a task's end must not build objects for the SDK to hash.
 */
export class ClientEntry {
  readonly ref: WeakRef<ObservedClient>;
  /** `rate_limited_client.name`, or nothing for a client without a name. */
  readonly attributes: Attributes;
  /** The attribute sets of `with()`, by attribute name and value. */
  readonly #extended = new Map<string, Map<string | number, Attributes>>();
  /** Units of each currency spent by this client's tasks that started since it was first seen. */
  readonly spent = new Map<string, number>();

  constructor(client: ObservedClient) {
    this.ref = new WeakRef(client);
    this.attributes = client.name === undefined ? {} : { [ATTR.name]: client.name };
  }

  spend(currency: string, amount: number): void {
    this.spent.set(currency, (this.spent.get(currency) ?? 0) + amount);
  }

  /** The client's attributes and `name: value`, one object per pair, made on first use. */
  with(name: string, value: string | number): Attributes {
    let byValue = this.#extended.get(name);
    if (byValue === undefined) this.#extended.set(name, (byValue = new Map<string | number, Attributes>()));
    let attributes = byValue.get(value);
    if (attributes === undefined) byValue.set(value, (attributes = { ...this.attributes, [name]: value }));
    return attributes;
  }
}

/**
 * Every client seen and not yet closed or collected. A client is never kept alive from here: the
 * WeakMap is keyed by it, the live set holds only entries (a WeakRef each), and a FinalizationRegistry
 * takes a collected client's entry out of the set even when nothing reads it.
 */
export class ClientRegistry {
  readonly #entries = new WeakMap<ObservedClient, ClientEntry>();
  /** The entries the observable callbacks walk: exactly those of `#entries` whose client lives. */
  readonly #live = new Set<ClientEntry>();
  /** Closed clients: a message that arrives after `client:close` must not bring one back. */
  readonly #closed = new WeakSet<ObservedClient>();
  readonly #finalizer = new FinalizationRegistry<ClientEntry>((entry) => this.#live.delete(entry));
  /** The entry `see()` returned last (a live client's), or undefined. */
  #last: ClientEntry | undefined = undefined;
  /** Closed since the last collection: their stats at close, not their clients. */
  #closing: Array<{ entry: ClientEntry; stats: ClientStats }> = [];

  /** The client's entry, made on its first message. Undefined for a closed client. */
  see(client: ObservedClient): ClientEntry | undefined {
    // Three messages a task, mostly of one client: the last entry answers them without a WeakMap lookup.
    if (this.#last?.ref.deref() === client) return this.#last;
    let entry = this.#entries.get(client);
    if (entry === undefined && !this.#closed.has(client)) {
      entry = new ClientEntry(client);
      this.#entries.set(client, entry);
      this.#live.add(entry);
      this.#finalizer.register(client, entry, entry);
    }
    this.#last = entry;
    return entry;
  }

  /**
   * The client has closed: it is reported no more, but for its counters' last values, which the next
   * collection takes (see `takeClosed`): work it finished since the last collection still counts.
   */
  forget(client: ObservedClient): void {
    this.#closed.add(client);
    const entry = this.#entries.get(client);
    if (entry === undefined) return;
    if (this.#last === entry) this.#last = undefined;
    this.#entries.delete(client);
    this.#live.delete(entry);
    this.#finalizer.unregister(entry);
    this.#closing.push({ entry, stats: client.stats() });
  }

  /** The clients closed since the last call, with their stats at close; each is handed out once. */
  takeClosed(visit: (entry: ClientEntry, stats: ClientStats) => void): void {
    if (this.#closing.length === 0) return;
    const closing = this.#closing;
    this.#closing = [];
    for (const { entry, stats } of closing) visit(entry, stats);
  }

  /** Calls `visit` for every live client (entries whose client was collected are dropped on the way). */
  forEach(visit: (client: ObservedClient, entry: ClientEntry) => void): void {
    for (const entry of this.#live) {
      const client = entry.ref.deref();
      if (client === undefined) this.#live.delete(entry);
      else visit(client, entry);
    }
  }

  /** Lets go of every client (stop()). */
  clear(): void {
    for (const entry of this.#live) this.#finalizer.unregister(entry);
    this.#live.clear();
    this.#last = undefined;
    this.#closing = [];
  }
}
