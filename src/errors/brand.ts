/**
 * Errors are branded with a registered symbol (as undici does) so that `instanceof` keeps working when
 * two copies of this package end up in one process (a CJS and an ESM copy, or two versions).
 */
export function isBranded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}
