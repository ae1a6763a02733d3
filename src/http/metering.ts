// A client's meter as the HTTP entry points use it: a request's cost before it is sent, its budgets,
// its real cost and what a refusal was for, from the response. A meter that throws is ignored.
import { type Cost, REQUESTS } from '../core/cost.js';
import { type InternalTaskContext, kAmendCost } from '../core/internal.js';
import type { CurrencyBudget, Meter, MeterRefusal, MeterRequest, MeterResponse, UsageReader } from '../core/meter.js';
import { describe, plainObject } from '../core/validate.js';
import type { Refill } from '../limit/server-budget.js';

const HOOKS = ['budgets', 'usage', 'refusal'] as const;

/** Checks the `meter` option: a plain object with an `estimate` function and optional hooks. */
export function normalizeMeter(value: unknown): Meter | undefined {
  if (value === undefined) return undefined;
  const meter = plainObject('meter', value);
  if (typeof meter.estimate !== 'function') {
    throw new TypeError(
      `Expected \`meter\` to be a meter (an object with an \`estimate\` function, such as openai() from 'rate-limited-client/meters'); its \`estimate\` is ${describe(meter.estimate)}`,
    );
  }
  for (const hook of HOOKS) {
    if (meter[hook] !== undefined && typeof meter[hook] !== 'function') {
      throw new TypeError(`Expected \`meter.${hook}\` to be a function or undefined, got ${describe(meter[hook])}`);
    }
  }
  return meter as unknown as Meter;
}

/** Calls a meter's hook; a throw counts as no answer (a meter can not fail a request). */
function ask<T>(hook: () => T): T | undefined {
  try {
    return hook();
  } catch {
    return undefined;
  }
}

/** A body's text for a meter: a string, or bytes decoded as UTF-8; anything else (a stream) is unseen. */
export function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8');
  return undefined;
}

/** What the client lets a meter's readings do. */
export interface MeteringHooks {
  /** Every currency some window counts, requests included. */
  currencies(): ReadonlySet<string>;
  /** With `key`: the budget of that key (the request was its). */
  setServerBudget(remaining: number, resetMs: number, carrierCost: number, currency: string, refill?: Refill, key?: string): void;
  /** The most a server's word may hold the client (`retry.maxRetryAfterMs`). */
  readonly maxWaitMs: number;
}

/** The client's meter, or none (then every method is a cheap no-op). */
export class Metering {
  readonly #meter: Meter | undefined;
  readonly #hooks: MeteringHooks;

  constructor(meter: Meter | undefined, hooks: MeteringHooks) {
    this.#meter = meter;
    this.#hooks = hooks;
  }

  get active(): boolean {
    return this.#meter !== undefined;
  }

  /** Reads refusal bodies: a refused request's cooldown waits for what its body says. */
  get readsRefusals(): boolean {
    return this.#meter?.refusal !== undefined;
  }

  /**
   * The cost to schedule a request with: the meter's estimate in the currencies the windows count,
   * overlaid by the caller's own `cost` (as given; the scheduler checks it), currency by currency.
   */
  cost(request: MeterRequest, given: unknown): unknown {
    const meter = this.#meter;
    if (meter === undefined) return given;
    const estimate = ask(() => meter.estimate(request));
    const counted = this.#counted(estimate);
    if (counted === undefined) return given;
    if (given === undefined || typeof given !== 'object' || given === null) return given ?? counted;
    return { ...counted, ...(given as Record<string, unknown>) };
  }

  /**
   * A response's headers arrived: the meter's budgets go to the client, and its usage reader (if any)
   * is returned, to see the body. `carrier`: the request's own cost (the server's remaining counts it).
   * `key`: the request's key, whose budgets they are.
   */
  heard(response: MeterResponse, weight: number, carrier: Cost | null, key?: string): UsageReader | undefined {
    const meter = this.#meter;
    if (meter === undefined) return undefined;
    const budgets: readonly CurrencyBudget[] | undefined = meter.budgets === undefined ? undefined : ask(() => meter.budgets?.(response));
    if (Array.isArray(budgets)) {
      const currencies = this.#hooks.currencies();
      for (const budget of budgets as readonly unknown[]) {
        // A meter's answer is checked, not trusted: a malformed entry is skipped, never a failed request.
        if (typeof budget !== 'object' || budget === null) continue;
        const { counts, remaining, resetMs, limit, refills } = budget as Partial<CurrencyBudget>;
        if (typeof counts !== 'string' || !currencies.has(counts) || typeof remaining !== 'number' || typeof resetMs !== 'number') continue;
        if (!(remaining >= 0) || !(resetMs > 0) || !Number.isFinite(resetMs)) continue;
        const carried = counts === REQUESTS ? weight : (carrier?.[counts] ?? 0);
        // A quota that refills continuously is back at its limit at the reset: it grows back at that pace.
        const refill =
          refills === true && typeof limit === 'number' && Number.isFinite(limit) && limit > remaining
            ? { perMs: (limit - remaining) / resetMs, limit }
            : undefined;
        this.#hooks.setServerBudget(Math.floor(remaining), Math.min(resetMs, this.#hooks.maxWaitMs), carried, counts, refill, key);
      }
    }
    return meter.usage === undefined ? undefined : (ask(() => meter.usage?.(response)) ?? undefined);
  }

  /** What a refused response's body says it was for. */
  refusal(response: MeterResponse, body: string): MeterRefusal | undefined {
    const meter = this.#meter;
    if (meter?.refusal === undefined) return undefined;
    const said: unknown = ask(() => meter.refusal?.(response, body));
    if (typeof said !== 'object' || said === null) return undefined;
    // Checked, not trusted: only a list of names and a non-empty reason count.
    const { counts, fatal } = said as Record<string, unknown>;
    return {
      counts: Array.isArray(counts) ? counts.filter((each): each is string => typeof each === 'string') : undefined,
      fatal: typeof fatal === 'string' && fatal !== '' ? fatal : undefined,
    };
  }

  /**
   * A body has ended in full: what `reader` saw of it (in the currencies the windows count) replaces
   * the task's estimate. It can not fail the caller: a reading the limits refuse now (a window changed
   * since), or none, leaves the estimate standing.
   */
  settle(reader: UsageReader | undefined, context: InternalTaskContext): void {
    if (reader === undefined) return;
    const cost = this.#counted(ask(() => reader.end()));
    if (cost === undefined) return;
    try {
      context[kAmendCost](cost);
    } catch {
      // The estimate stands.
    }
  }

  /** The amounts of `cost` that some window counts, besides requests; undefined when none or not a cost. */
  #counted(cost: unknown): Record<string, number> | undefined {
    if (typeof cost !== 'object' || cost === null) return undefined;
    const currencies = this.#hooks.currencies();
    let counted: Record<string, number> | undefined;
    for (const currency in cost) {
      const amount = (cost as Record<string, unknown>)[currency];
      if (currency === REQUESTS || !currencies.has(currency) || typeof amount !== 'number') continue;
      if (!Number.isFinite(amount) || amount < 0) continue;
      counted ??= {};
      counted[currency] = Math.ceil(amount);
    }
    return counted;
  }
}

/** Passes each chunk to `reader` as it goes by; a reader that throws is not called again. */
export function tapChunk(reader: UsageReader | undefined, chunk: Uint8Array): UsageReader | undefined {
  if (reader === undefined) return undefined;
  try {
    reader.chunk(chunk);
    return reader;
  } catch {
    return undefined;
  }
}
