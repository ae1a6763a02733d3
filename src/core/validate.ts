/** Renders a value for an error message: the value itself and its type, e.g. `0` (number). */
export function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') shown = String(value);
  else if (value === null || value === undefined) shown = String(value);
  else if (Array.isArray(value)) shown = `[…${value.length}]`;
  else if (typeof value === 'function') shown = value.name ? `function ${value.name}` : 'function';
  else shown = typeof value === 'symbol' ? value.toString() : 'object';
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}

function fail(Kind: typeof TypeError | typeof RangeError, name: string, expected: string, value: unknown): never {
  throw new Kind(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
}

/** A number of any sign that passes `ok`; a non-number is a TypeError, a number out of range a RangeError. */
function checkNumber(name: string, value: unknown, expected: string, ok: (n: number) => boolean): number {
  if (typeof value !== 'number') fail(TypeError, name, expected, value);
  if (!ok(value)) fail(RangeError, name, expected, value);
  return value;
}

export function integerAtLeast(name: string, value: unknown, min: number): number {
  return checkNumber(name, value, `an integer >= ${min}`, (n) => Number.isInteger(n) && n >= min);
}

/** An integer >= min, or Infinity. */
export function countOrInfinity(name: string, value: unknown, min: number): number {
  return checkNumber(name, value, `an integer >= ${min} or Infinity`, (n) => n === Infinity || (Number.isInteger(n) && n >= min));
}

export function finiteNumber(name: string, value: unknown): number {
  return checkNumber(name, value, 'a finite number', Number.isFinite);
}

export function positiveFinite(name: string, value: unknown): number {
  return checkNumber(name, value, 'a finite number > 0', (n) => Number.isFinite(n) && n > 0);
}

/** A duration in ms: > 0 (or >= 0 when `allowZero`), Infinity meaning none. */
export function duration(name: string, value: unknown, allowZero: boolean): number {
  const expected = `a number ${allowZero ? '>=' : '>'} 0 (Infinity for none)`;
  return checkNumber(name, value, expected, (n) => !Number.isNaN(n) && (allowZero ? n >= 0 : n > 0));
}

export function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(TypeError, name, 'a boolean', value);
  return value;
}

/** A string with at least one character; any other type is a TypeError, the empty string a RangeError. */
export function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string') fail(TypeError, name, 'a non-empty string', value);
  if (value.length === 0) fail(RangeError, name, 'a non-empty string', value);
  return value;
}

export function plainObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(TypeError, name, 'an object', value);
  return value as Record<string, unknown>;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    fail(typeof value === 'string' ? RangeError : TypeError, name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

/** Refuses keys that are not options: a typo (`concurency`) would otherwise be silently ignored. */
export function knownKeys(name: string, value: Record<string, unknown>, known: readonly string[]): void {
  // for-in with hasOwn visits what Object.keys lists, without an array per call: this runs for every
  // schedule() that passes options.
  for (const key in value) {
    if (Object.hasOwn(value, key) && !known.includes(key)) {
      throw new TypeError(`Unknown option \`${name ? `${name}.` : ''}${key}\`; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`);
    }
  }
}

export function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function' &&
    typeof (value as AbortSignal).removeEventListener === 'function'
  );
}
