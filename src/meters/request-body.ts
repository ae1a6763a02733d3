// What a meter reads of a request before it is sent: its JSON body, and its input size in tokens.
import { describe, plainObject, positiveFinite } from '../core/validate.js';

/**
 * Counts the tokens of a request body's text, for an estimate before the request is sent: e.g.
 * `(text) => encoder.encode(text).length` with a tiktoken encoder. It is given the whole JSON body as
 * sent (keys and punctuation too, a little more than the prompt: an estimate errs on the safe side,
 * and the response's `usage` settles it). A result that is not a finite number >= 0, or a throw,
 * falls back to the character count.
 */
export type Tokenizer = (text: string) => number;

/** The options every meter takes for its input estimate, checked. */
export interface InputSizeOptions {
  readonly tokenizer: Tokenizer | undefined;
  readonly charsPerToken: number;
}

/**
 * The default characters per token: OpenAI's rule of thumb for English text ("one token generally
 * corresponds to ~4 characters of text", help.openai.com/en/articles/4936856). Text in other
 * scripts has fewer characters per token; pass a tokenizer for it.
 */
export const DEFAULT_CHARS_PER_TOKEN = 4;

/** Checks the `options` object of a meter factory; undefined is `{}`. */
export function meterOptions(value: unknown): Record<string, unknown> {
  return plainObject('options', value ?? {});
}

/** Checks `tokenizer` and `charsPerToken`. */
export function inputSizeOptions(options: Record<string, unknown>): InputSizeOptions {
  const { tokenizer, charsPerToken } = options;
  if (tokenizer !== undefined && typeof tokenizer !== 'function') {
    throw new TypeError(`Expected \`tokenizer\` to be a function (text: string) => number, got ${describe(tokenizer)}`);
  }
  return {
    tokenizer: tokenizer as Tokenizer | undefined,
    charsPerToken: charsPerToken === undefined ? DEFAULT_CHARS_PER_TOKEN : positiveFinite('charsPerToken', charsPerToken),
  };
}

/** The body's input size in tokens, rounded up: the tokenizer's count, or characters / charsPerToken. */
export function inputTokens(text: string, options: InputSizeOptions): number {
  if (options.tokenizer !== undefined) {
    let counted: unknown;
    try {
      counted = options.tokenizer(text);
    } catch {
      counted = undefined;
    }
    if (typeof counted === 'number' && Number.isFinite(counted) && counted >= 0) return Math.ceil(counted);
  }
  return Math.ceil(text.length / options.charsPerToken);
}

/** The request's body as a JSON object, or undefined (no body, not JSON, or JSON that is not an object). */
export function jsonBody(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}
