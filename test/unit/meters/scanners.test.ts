import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonPathCapture } from '../../../src/meters/json-capture.js';
import { SseScanner } from '../../../src/meters/sse.js';
import { awkwardCuts, bytesOf, cutAt } from './helpers.js';

interface Event {
  type: string;
  data: string;
}

/** Every event the scanner reports for `pieces`, its data decoded whole. */
function events(pieces: readonly Uint8Array[]): Event[] {
  const out: Event[] = [];
  let data: Uint8Array[] = [];
  const scanner = new SseScanner({
    data: (bytes, start, end) => data.push(bytes.slice(start, end)),
    end: (type) => {
      out.push({ type, data: new TextDecoder().decode(Buffer.concat(data)) });
      data = [];
    },
  });
  for (const piece of pieces) scanner.push(piece);
  return out;
}

describe('SseScanner', () => {
  // The shape of Anthropic's stream (docs.anthropic.com/en/docs/build-with-claude/streaming), with
  // text outside ASCII so that cuts fall inside multi-byte characters.
  const stream =
    'event: message_start\ndata: {"type":"message_start"}\n\n' +
    ': a comment\n' +
    'event: content_block_delta\ndata: {"text":"Grüße 🌍 ok"}\n\n' +
    'data: first line\ndata:second line\ndata\n\n' +
    'event: ping\n\n' +
    'data: after an event with no data\n\n';
  const expected: Event[] = [
    { type: 'message_start', data: '{"type":"message_start"}' },
    { type: 'content_block_delta', data: '{"text":"Grüße 🌍 ok"}' },
    { type: '', data: 'first line\nsecond line\n' },
    // The `event: ping` with no data dispatches nothing, and its name does not leak into the next event.
    { type: '', data: 'after an event with no data' },
  ];

  it('reads events, comments, multi-line data and a data line with no colon', () => {
    expect(events([bytesOf(stream)])).toEqual(expected);
  });

  it.each(awkwardCuts(stream))('gives the same events with the body in pieces: $name', ({ pieces }) => {
    expect(events(pieces)).toEqual(expected);
  });

  it('ends lines at CRLF, CR or LF, a CRLF split between chunks included', () => {
    const text = 'event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\rdata: 3\n\n';
    const want = [
      { type: 'a', data: '1' },
      { type: 'b', data: '2' },
      { type: '', data: '3' },
    ];
    const bytes = bytesOf(text);
    expect(events([bytes])).toEqual(want);
    for (let cut = 1; cut < bytes.length; cut++) expect(events(cutAt(bytes, [cut]))).toEqual(want);
  });

  it('skips one space after the colon, not two, and a leading byte order mark', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...bytesOf('data:  two spaces\n\n')]);
    expect(events(cutAt(bytes, [1, 2]))).toEqual([{ type: '', data: ' two spaces' }]);
  });

  it('an event not ended by a blank line is not reported', () => {
    expect(events([bytesOf('data: {"usage":1}\n')])).toEqual([]);
  });

  it('ignores fields it does not read, and names longer than any it reads', () => {
    expect(events([bytesOf('id: 7\nretry: 10\ndatadata: x\nevent: e\ndata: y\n\n')])).toEqual([{ type: 'e', data: 'y' }]);
  });
});

/** Every value `paths` find in `pieces`, in order. */
function capture(paths: string[][], pieces: readonly Uint8Array[]): Array<[number, unknown]> {
  const found: Array<[number, unknown]> = [];
  const scanner = new JsonPathCapture(paths, (path, value) => found.push([path, value]));
  for (const piece of pieces) scanner.push(piece);
  return found;
}

describe('JsonPathCapture', () => {
  const doc = JSON.stringify({
    id: 'x',
    text: 'a "usage": {"fake": 1} in a string, and \\"usage\\": 2, and ünïcödé 🌍',
    output: [{ usage: { nested: 'in an array: not a path' } }],
    response: { usage: { input_tokens: 3, note: 'ü🌍' }, other: { usage: 9 } },
    usage: { prompt_tokens: 8, total_tokens: 8 },
    after: [1, 2, { usage: 0 }],
  });
  const paths = [['usage'], ['response', 'usage']];
  const want: Array<[number, unknown]> = [
    [1, { input_tokens: 3, note: 'ü🌍' }],
    [0, { prompt_tokens: 8, total_tokens: 8 }],
  ];

  it('finds the values at the paths, and only there', () => {
    expect(capture(paths, [bytesOf(doc)])).toEqual(want);
  });

  it.each(awkwardCuts(doc))('finds the same with the document in pieces: $name', ({ pieces }) => {
    expect(capture(paths, pieces)).toEqual(want);
  });

  it('finds values that are not objects, and the last key of an object', () => {
    expect(capture([['a'], ['b'], ['c']], [bytesOf('{"a": null, "b": [1, {"c": 2}], "c": "end"}')])).toEqual([
      [0, null],
      [1, [1, { c: 2 }]],
      [2, 'end'],
    ]);
  });

  it('does not compare an escaped key', () => {
    expect(capture([['usage']], [bytesOf('{"us\\u0061ge": 1}')])).toEqual([]);
  });

  it('reset() starts a new document', () => {
    const found: unknown[] = [];
    const scanner = new JsonPathCapture([['usage']], (_path, value) => found.push(value));
    scanner.push(bytesOf('{"text": "unterminated'));
    scanner.reset();
    scanner.push(bytesOf('{"usage": 5}'));
    expect(found).toEqual([5]);
  });

  it('drops a value larger than a usage object could be, without holding it', () => {
    const big = JSON.stringify({ usage: { blob: 'x'.repeat(70_000) }, after: { usage: 1 } });
    expect(capture([['usage']], [bytesOf(big)])).toEqual([]);
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (pieces) => {
        capture([['usage'], ['response', 'usage']], pieces);
        events(pieces);
      }),
    );
  });

  it('finds the usage of any JSON document that has one at the top', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue(), fc.integer({ min: 1, max: 50 }), (rest, usage, size) => {
        const text = JSON.stringify({ ...rest, usage });
        const bytes = bytesOf(text);
        const pieces: Uint8Array[] = [];
        for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.slice(at, at + size));
        // JSON.parse(JSON.stringify(x)) normalises -0 to 0, as the scanner's own parse does.
        expect(capture([['usage']], pieces)).toEqual([[0, JSON.parse(JSON.stringify(usage))]]);
      }),
    );
  });
});
