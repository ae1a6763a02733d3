// Costs in several currencies: what a task costs beside its weight (tokens, query points), and their checks.
import { describe, plainObject } from './validate.js';

/**
 * What a task costs in each currency a window counts: `{ tokens: 1_800 }`. Amounts are integers >= 0;
 * a currency the task does not name costs it 0. `'requests'` is the task's `weight`.
 */
export type Cost = Readonly<Record<string, number>>;

/** The currency every window counts unless it says otherwise: each task's `weight`. */
export const REQUESTS = 'requests';

/** A currency's name: a-z, 0-9 and '-', starting with a letter or digit. */
const CURRENCY_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Checks a window's `counts` option; undefined is `'requests'`. */
export function normalizeCurrency(name: string, value: unknown): string {
  if (value === undefined) return REQUESTS;
  if (typeof value !== 'string' || !CURRENCY_NAME.test(value) || value.length > 64) {
    const expected = 'a currency name made of a-z, 0-9 and \'-\' (at most 64 characters), such as "tokens"';
    const Kind = typeof value === 'string' ? RangeError : TypeError;
    throw new Kind(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
  }
  return value;
}

/** One amount of a cost: an integer >= 0. */
function amount(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`Expected \`${name}\` to be an integer >= 0, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`Expected \`${name}\` to be an integer >= 0, got ${describe(value)}`);
  return value;
}

/**
 * Checks a task's `cost` against the currencies its client's windows count. Returns the amounts
 * besides `'requests'` (a fresh object, or null when there are none), and the `'requests'` amount if
 * named (undefined otherwise): it is the task's weight.
 *
 * A currency no window counts is a TypeError: a typo (`token`) must not pass silently.
 */
export function normalizeCost(
  name: string,
  value: unknown,
  counted: ReadonlySet<string>,
): { cost: Record<string, number> | null; requests: number | undefined } {
  const input = plainObject(name, value);
  let cost: Record<string, number> | null = null;
  let requests: number | undefined;
  for (const currency in input) {
    if (!Object.hasOwn(input, currency)) continue;
    const value = amount(`${name}.${currency}`, input[currency]);
    if (currency === REQUESTS) {
      requests = value;
      continue;
    }
    if (!counted.has(currency)) {
      const known = [...counted].filter((each) => each !== REQUESTS);
      throw new TypeError(
        `Unknown currency \`${name}.${currency}\`: no window counts it; ` +
          (known.length === 0
            ? "the client's windows count only 'requests' (add a window with `counts: '" + currency + "'`)"
            : `the windows count ${known.map((each) => `'${each}'`).join(', ')}`),
      );
    }
    cost ??= {};
    cost[currency] = value;
  }
  return { cost, requests };
}

/** The amount of `currency` in `cost` (0 when not named). */
export function amountOf(cost: Cost | null, currency: string): number {
  return cost === null ? 0 : (cost[currency] ?? 0);
}
