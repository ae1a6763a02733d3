// Picks the values at a few key paths (`usage`, `response.usage`) out of JSON text as its bytes pass, holding only those values.

/** A path of object keys from the top of a JSON document: `['response', 'usage']` is `doc.response.usage`. */
export type JsonPath = readonly string[];

/** Called with each value found at one of the paths: the path's index and the parsed value. */
export type OnJsonValue = (path: number, value: unknown) => void;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** A key longer than this can not be one of ours: it is not collected. */
const MAX_KEY_BYTES = 64;
/** A value larger than this is not a usage object: it is dropped, not held. */
const MAX_VALUE_BYTES = 64 * 1024;

const decoder = new TextDecoder();

/**
 * A byte-level scanner of one JSON document (or of several, one after another, with `reset()`
 * between them). It tracks only what it needs to know where it is: the nesting depth, whether it
 * is in a string, and the current key of the objects on the way down to the deepest path. The bytes
 * of a value at a wanted path are copied as they pass and parsed once the value has ended; nothing
 * else is kept, however large the document (an embeddings response can run to tens of megabytes).
 *
 * It works on UTF-8 bytes without decoding them: every byte of a multi-byte character is >= 0x80,
 * so none can be mistaken for a quote or a bracket, and a character split across two chunks is
 * simply copied in two pieces. Malformed JSON yields no value; it never throws.
 */
export class JsonPathCapture {
  readonly #paths: readonly JsonPath[];
  readonly #onValue: OnJsonValue;
  /** The length of the longest path: keys deeper than this are never needed. */
  readonly #maxDepth: number;
  /** Containers open around the current byte. */
  #depth = 0;
  #inString = false;
  /** The previous byte in a string was a backslash that escapes this one. */
  #escaped = false;
  /** At the current depth, the next string is a key (after `{` or `,` in an object). */
  #expectKey = false;
  /** #isObject[d - 1]: the container at depth d (d <= #maxDepth) is an object. */
  readonly #isObject: boolean[] = [];
  /** #keys[d - 1]: the key being read or last read in the object at depth d (d <= #maxDepth). */
  readonly #keys: Array<string | undefined> = [];
  /** Bytes of the key string being read; null when the current string is not a key worth reading. */
  #key: number[] | null = null;
  /** The index of the path whose value is being copied, or -1. */
  #capturing = -1;
  /** The depth of the object that holds the value being copied. */
  #captureDepth = 0;
  #captured: Uint8Array[] = [];
  #capturedBytes = 0;

  constructor(paths: readonly JsonPath[], onValue: OnJsonValue) {
    this.#paths = paths;
    this.#onValue = onValue;
    this.#maxDepth = Math.max(0, ...paths.map((path) => path.length));
  }

  /** Forgets everything: the next byte starts a new document (the next Server-Sent Event's data). */
  reset(): void {
    this.#depth = 0;
    this.#inString = false;
    this.#escaped = false;
    this.#expectKey = false;
    this.#key = null;
    this.#capturing = -1;
    this.#captured = [];
    this.#capturedBytes = 0;
  }

  /** Scans `bytes[start..end)`. */
  push(bytes: Uint8Array, start = 0, end = bytes.length): void {
    let copyFrom = start;
    for (let i = start; i < end; i++) {
      const byte = bytes[i] as number;
      if (this.#inString) {
        if (this.#escaped) {
          this.#escaped = false;
          // An escaped key (`"us\u0061ge"`) is not compared: ours are plain ASCII.
          this.#key = null;
        } else if (byte === BACKSLASH) {
          this.#escaped = true;
        } else if (byte === QUOTE) {
          this.#inString = false;
          if (this.#key !== null) this.#keys[this.#depth - 1] = String.fromCharCode(...this.#key);
          this.#key = null;
        } else if (this.#key !== null) {
          if (this.#key.length === MAX_KEY_BYTES) this.#key = null;
          else this.#key.push(byte);
        }
        continue;
      }
      switch (byte) {
        case QUOTE:
          this.#inString = true;
          if (this.#expectKey && this.#depth <= this.#maxDepth) {
            this.#key = [];
            this.#keys[this.#depth - 1] = undefined;
          }
          break;
        case COLON:
          this.#expectKey = false;
          if (this.#capturing < 0 && this.#depth <= this.#maxDepth) {
            this.#capturing = this.#pathHere();
            this.#captureDepth = this.#depth;
            copyFrom = i + 1;
          }
          break;
        case COMMA:
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          if (this.#capturing >= 0 && this.#depth === this.#captureDepth) {
            this.#copy(bytes, copyFrom, i);
            this.#finishValue();
          }
          if (byte === COMMA) this.#expectKey = this.#depth <= this.#maxDepth && this.#isObject[this.#depth - 1] === true;
          else {
            this.#depth = Math.max(0, this.#depth - 1);
            this.#expectKey = false;
          }
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          this.#depth++;
          this.#expectKey = byte === OPEN_OBJECT;
          if (this.#depth <= this.#maxDepth) {
            this.#isObject[this.#depth - 1] = byte === OPEN_OBJECT;
            this.#keys[this.#depth - 1] = undefined;
          }
          break;
        default:
          break;
      }
    }
    if (this.#capturing >= 0) this.#copy(bytes, copyFrom, end);
  }

  /** The index of the path that ends at the key just read, or -1. */
  #pathHere(): number {
    const depth = this.#depth;
    search: for (let index = 0; index < this.#paths.length; index++) {
      const path = this.#paths[index] as JsonPath;
      if (path.length !== depth) continue;
      for (let d = 0; d < depth; d++) {
        // An array's entry has no key: #keys holds undefined for it, which no path names.
        if (this.#keys[d] !== path[d]) continue search;
      }
      return index;
    }
    return -1;
  }

  #copy(bytes: Uint8Array, from: number, to: number): void {
    if (to <= from || this.#capturing < 0) return;
    this.#capturedBytes += to - from;
    if (this.#capturedBytes > MAX_VALUE_BYTES) {
      this.#capturing = -1;
      this.#captured = [];
      return;
    }
    // A copy: the caller may reuse the chunk's memory once `push` returns.
    this.#captured.push(bytes.slice(from, to));
  }

  #finishValue(): void {
    const path = this.#capturing;
    const pieces = this.#captured;
    this.#capturing = -1;
    this.#captured = [];
    this.#capturedBytes = 0;
    if (path < 0) return;
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(pieces.length === 1 ? pieces[0] : concat(pieces)));
    } catch {
      return;
    }
    this.#onValue(path, value);
  }
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
