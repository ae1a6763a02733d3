// The error a refusal's body describes: its type, code and message, from whole JSON or from the first few kilobytes of it.
import { asObject } from './body-reader.js';

/** What an API error body says, as far as it could be read. */
export interface ErrorBody {
  /** Every `type` it names but the envelope's `"error"` (OpenAI: `tokens`; Anthropic: `rate_limit_error`). */
  readonly types: readonly string[];
  readonly code: string | undefined;
  /** The message, lower case. */
  readonly message: string;
}

/**
 * Reads an error body: OpenAI's `{"error":{"message","type","code"}}` and Anthropic's
 * `{"type":"error","error":{"type","message"}}`. The client passes only the body's start (about
 * 4 KB), which may cut the JSON short: then the fields are looked for in the text itself.
 */
export function readErrorBody(text: string): ErrorBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fromText(text);
  }
  const error = asObject(asObject(parsed)?.error);
  if (error === undefined) return { types: [], code: undefined, message: '' };
  const { type, code, message } = error;
  return {
    types: typeof type === 'string' ? [type] : [],
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message.toLowerCase() : '',
  };
}

const STRING_FIELD = /"(type|code|message)"\s*:\s*"((?:[^"\\]|\\.)*)/g;

function fromText(text: string): ErrorBody {
  const types: string[] = [];
  let code: string | undefined;
  let message = '';
  for (const [, field, value = ''] of text.matchAll(STRING_FIELD)) {
    if (field === 'type' && value !== 'error') types.push(value);
    else if (field === 'code') code ??= value;
    else if (field === 'message' && message === '') message = value.toLowerCase();
  }
  return { types, code, message };
}
