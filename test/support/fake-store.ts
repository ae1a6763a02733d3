import type { Cost } from '../../src/core/cost.js';
import type { WindowUsage } from '../../src/core/options.js';
import { MemoryStore } from '../../src/stores/memory.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../../src/core/store.js';

/** One call the scheduler made, with the `now` it passed. */
export type StoreCall =
  | { readonly op: 'acquire' | 'settle' | 'amend' | 'release'; readonly slot: StoreSlot; readonly now: number }
  | { readonly op: 'setLimits'; readonly limits: StoreLimits; readonly now: number };

/** One `acquire` whose promise the test answers. */
export interface Asked {
  readonly slot: StoreSlot;
  readonly now: number;
  /** How it was answered; `undefined` while it is out. */
  answer: { readonly wait: number } | { readonly error: unknown } | undefined;
}

/** What the store saw of one slot, to check the contract's order: grant, then settle once, then release once. */
interface Ledger {
  granted: number;
  settled: number;
  released: number;
}

/**
 * A `LimiterStore` that answers `acquire` with a promise the test resolves (`grant`, `refuse`, `fail`,
 * `decide`), as a store over the network would. It records every call and every breach of the store
 * contract by its client (`violations`), so a test can assert the order of calls and that there were
 * none. `syncAnswers` makes the next acquires answer synchronously instead, as a MemoryStore does.
 *
 * `decide()` answers from real sliding windows (a MemoryStore kept inside); the other answers are
 * scripted and leave those windows alone.
 */
export class FakeStore implements LimiterStore {
  readonly calls: StoreCall[] = [];
  readonly asked: Asked[] = [];
  /** Contract breaches seen, in words; a correct client leaves this empty. */
  readonly violations: string[] = [];
  /** Answers for the next acquires, given synchronously (a number, not a promise). */
  readonly syncAnswers: number[] = [];
  closeCount = 0;
  readonly #windows = new MemoryStore();
  readonly #ledger = new Map<StoreSlot, Ledger>();
  /** Grants whose task has not yet been seen running (see `claimGrant`). */
  readonly #unclaimed: StoreSlot[] = [];
  #context: StoreContext | undefined = undefined;
  #outstanding: { asked: Asked; resolve: (wait: number) => void; reject: (error: unknown) => void } | undefined = undefined;

  open(context: StoreContext): void {
    if (this.#context !== undefined) this.violations.push('open() called twice');
    this.#context = context;
    this.#windows.open(context);
  }

  setLimits(limits: StoreLimits, now: number): void {
    this.calls.push({ op: 'setLimits', limits, now });
    this.#windows.setLimits(limits, now);
  }

  acquire(slot: StoreSlot, now: number): number | Promise<number> {
    this.calls.push({ op: 'acquire', slot, now });
    if (this.#outstanding !== undefined) this.violations.push('acquire while another answer was out');
    const held = this.#ledger.get(slot);
    if (held !== undefined && held.granted > held.released) this.violations.push('acquire for a slot granted and not released');
    const sync = this.syncAnswers.shift();
    if (sync !== undefined) {
      if (sync === 0) this.#grantSlot(slot);
      return sync;
    }
    const asked: Asked = { slot, now, answer: undefined };
    this.asked.push(asked);
    return new Promise<number>((resolve, reject) => {
      this.#outstanding = { asked, resolve, reject };
    });
  }

  earliestWait(slot: StoreSlot, now: number): number {
    return this.#windows.earliestWait(slot, now);
  }

  amend(slot: StoreSlot, cost: Cost, now: number): void {
    this.calls.push({ op: 'amend', slot, now });
    const entry = this.#ledger.get(slot);
    if (entry === undefined || entry.granted === 0) this.violations.push('amend of a slot never granted');
    this.#windows.amend(slot, cost, now);
  }

  settle(slot: StoreSlot, now: number): void {
    this.calls.push({ op: 'settle', slot, now });
    const entry = this.#ledger.get(slot);
    if (entry === undefined || entry.granted === 0) this.violations.push('settle of a slot never granted');
    else if (entry.released > 0) this.violations.push('settle after release');
    else if (++entry.settled > 1) this.violations.push('settle twice');
    this.#windows.settle(slot, now);
  }

  release(slot: StoreSlot, now: number): void {
    this.calls.push({ op: 'release', slot, now });
    const entry = this.#ledger.get(slot);
    if (entry === undefined || entry.granted === 0) this.violations.push('release of a slot never granted');
    else if (++entry.released > entry.granted) this.violations.push('release twice');
    // A grant released before any task claimed it was never used (its task left while it was on its way).
    const unclaimed = this.#unclaimed.indexOf(slot);
    if (unclaimed >= 0) this.#unclaimed.splice(unclaimed, 1);
    this.#windows.release(slot, now);
  }

  usage(now: number): WindowUsage[] {
    return this.#windows.usage(now);
  }

  close(): Promise<void> {
    this.closeCount++;
    return Promise.resolve();
  }

  /** The acquire whose answer is out, if any. */
  get outstanding(): Asked | undefined {
    return this.#outstanding?.asked;
  }

  /** Calls of one kind, in order. */
  ops(op: StoreCall['op']): StoreCall[] {
    return this.calls.filter((call) => call.op === op);
  }

  /** The calls about `slot`, as `op@now`. */
  history(slot: StoreSlot): string[] {
    return this.calls.filter((call) => 'slot' in call && call.slot === slot).map((call) => `${call.op}@${call.now}`);
  }

  grant(): StoreSlot {
    const { asked } = this.#answer({ wait: 0 });
    this.#grantSlot(asked.slot);
    return asked.slot;
  }

  refuse(waitMs: number): StoreSlot {
    return this.#answer({ wait: waitMs }).asked.slot;
  }

  fail(error: unknown): StoreSlot {
    return this.#answer({ error }).asked.slot;
  }

  /** Answers from the sliding windows, as a MemoryStore would at the clock's time now. */
  decide(): number {
    const out = this.#required();
    const wait = this.#windows.acquire(out.asked.slot, this.#bound.clock.now());
    if (wait === 0) this.grant();
    else this.refuse(wait);
    return wait;
  }

  /** What a shared store does when room frees in a way it could not predict. */
  wake(): void {
    this.#bound.wake();
  }

  /**
   * The slot of the oldest grant whose task has not been seen running yet; a task calls it from its
   * first line. A task that finds none ran without a grant.
   */
  claimGrant(): StoreSlot | undefined {
    const slot = this.#unclaimed.shift();
    if (slot === undefined) this.violations.push('a task ran without a grant');
    return slot;
  }

  /** Granted slots not released exactly once, each with its history. */
  unfinished(): string[] {
    const problems: string[] = [];
    for (const [slot, entry] of this.#ledger) {
      if (entry.released !== entry.granted)
        problems.push(`granted ${entry.granted}, released ${entry.released}: ${this.history(slot).join(' ')}`);
    }
    return problems;
  }

  /** How many times `slot` was granted, settled and released. */
  ledger(slot: StoreSlot): Readonly<Ledger> {
    return this.#ledger.get(slot) ?? { granted: 0, settled: 0, released: 0 };
  }

  #grantSlot(slot: StoreSlot): void {
    let entry = this.#ledger.get(slot);
    if (entry === undefined) {
      entry = { granted: 0, settled: 0, released: 0 };
      this.#ledger.set(slot, entry);
    }
    entry.granted++;
    this.#unclaimed.push(slot);
  }

  #answer(answer: NonNullable<Asked['answer']>): { asked: Asked } {
    const out = this.#required();
    this.#outstanding = undefined;
    out.asked.answer = answer;
    if ('error' in answer) out.reject(answer.error);
    else out.resolve(answer.wait);
    return out;
  }

  #required() {
    const out = this.#outstanding;
    if (out === undefined) throw new Error('FakeStore: no acquire is waiting for an answer');
    return out;
  }

  get #bound(): StoreContext {
    if (this.#context === undefined) throw new Error('FakeStore used before a client opened it');
    return this.#context;
  }
}
