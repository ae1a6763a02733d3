// A Server-Sent Events scanner over byte chunks: hands on each event's data as it passes, holding only the event's name.

/** What an `SseScanner` reports. */
export interface SseHandler {
  /**
   * Bytes of the current event's data, `bytes[start..end)`, in order, as they arrive: one data line
   * may come in several pieces, and the LF that joins two data lines of one event is passed too.
   */
  data(bytes: Uint8Array, start: number, end: number): void;
  /** The current event ended (a blank line) and had data; `type` is its `event` field, `''` if none. */
  end(type: string): void;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const NEWLINE = new Uint8Array([LF]);
const BOM = [0xef, 0xbb, 0xbf];
const DATA = [0x64, 0x61, 0x74, 0x61];
const EVENT = [0x65, 0x76, 0x65, 0x6e, 0x74];
/** Longer field names are none of ours. */
const MAX_NAME_BYTES = 8;
/** An event name longer than this is cut: ours are short (`response.completed`). */
const MAX_TYPE_BYTES = 256;

const enum State {
  /** Reading a field name (or the start of a line). */
  Name,
  /** Just after the colon: one space is skipped there. */
  ValueStart,
  /** In a field's value. */
  Value,
  /** In a comment or a field we do not read, up to the end of the line. */
  Skip,
}

const decoder = new TextDecoder();

/**
 * Splits a `text/event-stream` body into events as its chunks pass, following the WHATWG HTML
 * "event stream interpretation": lines end with CRLF, LF or CR (a CRLF may be split between two
 * chunks), a line that starts with a colon is a comment, one space after the field's colon is not
 * part of the value, a blank line ends the event, a leading byte order mark is skipped.
 *
 * It never holds an event's data: the data bytes go to the handler as they arrive (a UTF-8
 * character split between chunks reaches it in two pieces, in order, and the handler decodes it
 * whole). Only the field name being read and the event's name are kept.
 */
export class SseScanner {
  readonly #handler: SseHandler;
  #state = State.Name;
  /** The field name read so far on this line; null once it is longer than any name we read. */
  #name: number[] | null = [];
  /** The field of the current line's value: 'data', 'event' or other. */
  #field: 'data' | 'event' | 'other' = 'other';
  /** The current event's name, as bytes (cut at MAX_TYPE_BYTES). */
  #type: number[] = [];
  /** The current event has had a data line. */
  #hasData = false;
  /** The last byte was a CR: an LF right after it (maybe in the next chunk) ends no second line. */
  #afterCR = false;
  /** Bytes of a byte order mark seen at the very start; -1 once past the start. */
  #bom = 0;

  constructor(handler: SseHandler) {
    this.#handler = handler;
  }

  /** Scans one chunk of the body. */
  push(bytes: Uint8Array): void {
    let i = 0;
    const end = bytes.length;
    while (this.#bom >= 0 && i < end) {
      if (bytes[i] === BOM[this.#bom]) {
        i++;
        if (++this.#bom === BOM.length) this.#bom = -1;
      } else this.#bom = -1;
    }
    while (i < end) {
      const byte = bytes[i] as number;
      if (this.#afterCR) {
        this.#afterCR = false;
        if (byte === LF) {
          i++;
          continue;
        }
      }
      if (byte === CR || byte === LF) {
        this.#endLine();
        this.#afterCR = byte === CR;
        i++;
        continue;
      }
      switch (this.#state) {
        case State.Name:
          if (byte === COLON) {
            this.#startValue();
            this.#state = this.#field === 'other' ? State.Skip : State.ValueStart;
          } else if (this.#name !== null) {
            if (this.#name.length === MAX_NAME_BYTES) this.#name = null;
            else this.#name.push(byte);
          }
          i++;
          break;
        case State.ValueStart:
          this.#state = State.Value;
          if (byte === SPACE) i++;
          break;
        case State.Value: {
          let stop = i;
          while (stop < end && bytes[stop] !== LF && bytes[stop] !== CR) stop++;
          if (this.#field === 'data') this.#handler.data(bytes, i, stop);
          else for (let at = i; at < stop && this.#type.length < MAX_TYPE_BYTES; at++) this.#type.push(bytes[at] as number);
          i = stop;
          break;
        }
        case State.Skip: {
          while (i < end && bytes[i] !== LF && bytes[i] !== CR) i++;
          break;
        }
      }
    }
  }

  /** The field name is complete (a colon, or the end of a line without one): what its value is for. */
  #startValue(): void {
    const name = this.#name;
    this.#field = name === null ? 'other' : same(name, DATA) ? 'data' : same(name, EVENT) ? 'event' : 'other';
    if (this.#field === 'data') {
      // Data lines of one event are joined with an LF; the first is not preceded by one.
      if (this.#hasData) this.#handler.data(NEWLINE, 0, 1);
      this.#hasData = true;
    } else if (this.#field === 'event') this.#type = [];
  }

  #endLine(): void {
    if (this.#state === State.Name) {
      if (this.#name !== null && this.#name.length === 0) this.#dispatch();
      // A line with no colon is a field name with an empty value (`data` alone is an empty data line).
      else if (this.#name !== null) this.#startValue();
    }
    this.#state = State.Name;
    this.#name = [];
  }

  #dispatch(): void {
    const type = this.#type.length === 0 ? '' : decoder.decode(new Uint8Array(this.#type));
    const hadData = this.#hasData;
    this.#type = [];
    this.#hasData = false;
    if (hadData) this.#handler.end(type);
  }
}

function same(bytes: readonly number[], expected: readonly number[]): boolean {
  return bytes.length === expected.length && bytes.every((byte, i) => byte === expected[i]);
}
