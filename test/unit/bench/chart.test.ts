import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { peakCount, windowChart, windowCounts, type WindowCount } from '../../../bench/chart.js';

/** Starts s with t − windowMs < s <= t, counted one by one, in the limiter's form (s + windowMs > t). */
function bruteCount(starts: readonly number[], windowMs: number, t: number): number {
  return starts.filter((s) => s <= t && s + windowMs > t).length;
}

/** The most starts in any window; a window's count is highest right at one of its starts. */
function brutePeak(starts: readonly number[], windowMs: number): number {
  return Math.max(0, ...starts.map((t) => bruteCount(starts, windowMs, t)));
}

/** The step function's value at t (ms since the first start). */
function countAt(points: readonly WindowCount[], t: number): number {
  let count = 0;
  for (const point of points) if (point.t <= t) count = point.count;
  return count;
}

const ENTITY = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;

/**
 * Just enough of an XML parser to say a document is well formed: one root, tags that nest and close,
 * quoted attributes without repeats, and `&` only in entities. Returns the root element's name.
 */
function checkXml(xml: string): string {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at ${at}: ${JSON.stringify(xml.slice(at, at + 40))}`);
  };
  const checkText = (text: string, start: number) => {
    for (let i = text.indexOf('&'); i !== -1; i = text.indexOf('&', i + 1))
      if (!ENTITY.test(text.slice(i))) {
        at = start + i;
        fail('bare &');
      }
    if (text.includes('<')) fail('bare <');
  };
  const declaration = /^<\?xml[^?]*\?>\s*/.exec(xml);
  if (declaration) at = declaration[0].length;
  const open: string[] = [];
  let root: string | undefined;
  while (at < xml.length) {
    const next = xml.indexOf('<', at);
    const text = xml.slice(at, next === -1 ? xml.length : next);
    if (open.length === 0 && text.trim() !== '') fail('text outside the root');
    checkText(text, at);
    if (next === -1) break;
    at = next;
    if (xml.startsWith('<!--', at)) {
      const end = xml.indexOf('-->', at);
      if (end === -1) fail('unclosed comment');
      at = end + 3;
      continue;
    }
    const tag = /^<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(xml.slice(at));
    if (!tag) return fail('malformed tag');
    const [whole, closing, name = '', attributes = '', selfClosing] = tag;
    const names = new Set<string>();
    for (const [, attribute = '', value = ''] of attributes.matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      if (names.has(attribute)) fail(`repeated attribute ${attribute}`);
      names.add(attribute);
      checkText(value, at);
    }
    if (closing) {
      if (open.pop() !== name) fail(`unexpected </${name}>`);
    } else {
      if (open.length === 0) {
        if (root !== undefined) fail('a second root');
        root = name;
      }
      if (!selfClosing) open.push(name);
    }
    at += whole.length;
  }
  if (open.length > 0) fail(`unclosed <${open.at(-1) ?? ''}>`);
  return root ?? fail('no root');
}

/** Each panel's markup, in order. */
const panelsOf = (svg: string) => svg.split('<g class="panel">').slice(1);

/** 20 every 100 ms, each start exactly 100 ms after the one 20 before it. */
const steady = Array.from({ length: 600 }, (_, i) => 1000 + Math.floor(i / 20) * 100 + (i % 20) * 4);
/** Fixed 100 ms windows: 20 at the end of an even window, 20 at the start of the next, so 40 meet at its edge. */
const fixed = Array.from({ length: 600 }, (_, i) => {
  const window = Math.floor(i / 20);
  return 5000 + window * 100 + (window % 2 === 0 ? 90 : 0) + (i % 20) * 0.5;
});

describe('windowCounts', () => {
  it('gives one point each time the count in (t − W, t] changes, from the first start to the last one leaving', () => {
    expect(windowCounts([0, 10, 20, 100, 150], 100)).toEqual([
      { t: 0, count: 1 },
      { t: 10, count: 2 },
      { t: 20, count: 3 },
      // At 100 one start enters as 0 leaves: no change, no point.
      { t: 110, count: 2 },
      { t: 120, count: 1 },
      { t: 150, count: 2 },
      { t: 200, count: 1 },
      { t: 250, count: 0 },
    ]);
  });

  it('measures from the first start whatever the origin and order, and counts equal starts together', () => {
    expect(windowCounts([1150, 1000, 1100, 1020, 1010], 100)).toEqual(windowCounts([0, 10, 20, 100, 150], 100));
    expect(windowCounts([5, 5, 5], 10)).toEqual([
      { t: 0, count: 3 },
      { t: 10, count: 0 },
    ]);
    // A start exactly one window after another replaces it: the count never changes from 1.
    expect(windowCounts([0, 100], 100)).toEqual([
      { t: 0, count: 1 },
      { t: 200, count: 0 },
    ]);
    expect(windowCounts([], 100)).toEqual([]);
  });

  it('matches a brute-force count at every point and at any moment, and its peak is the brute-force maximum', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.integer({ min: -10, max: 2400 }), { maxLength: 20 }),
        (starts, windowMs, moments) => {
          const points = windowCounts(starts, windowMs);
          const origin = Math.min(...starts);
          for (const point of points) expect(point.count).toBe(bruteCount(starts, windowMs, point.t + origin));
          for (const moment of moments) expect(countAt(points, moment - origin)).toBe(bruteCount(starts, windowMs, moment));
          expect(peakCount(points)).toBe(brutePeak(starts, windowMs));
          expect(points.at(-1)?.count).toBe(0);
          points.slice(1).forEach((point, index) => {
            const previous = points[index] as WindowCount;
            expect(point.t).toBeGreaterThan(previous.t);
            expect(point.count).not.toBe(previous.count);
          });
        },
      ),
    );
  });
});

describe('windowChart', () => {
  const chart = windowChart({
    title: 'Starts per sliding 100 ms window',
    limit: 20,
    windowMs: 100,
    series: [
      { label: 'sliding', starts: steady },
      { label: 'fixed', starts: fixed },
    ],
  });

  it('is a well-formed standalone SVG document on a white background', () => {
    expect(checkXml(chart)).toBe('svg');
    expect(chart).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="900"/);
    expect(chart).toMatch(/<rect width="900" height="\d+" fill="#ffffff"\/>/);
    expect(panelsOf(chart)).toHaveLength(2);
  });

  it('fills the part above the limit red for a series that exceeds it, and not for one that keeps to it', () => {
    expect(brutePeak(steady, 100)).toBe(20);
    expect(brutePeak(fixed, 100)).toBe(40);
    const [within = '', over = ''] = panelsOf(chart);
    expect(within).not.toContain('over-limit');
    expect(over).toContain('class="over-limit"');
    // The red shapes lie between the limit line and the peak: no y below the limit line.
    const limitY = Number(/class="limit" d="M[\d.]+ ([\d.]+)/.exec(over)?.[1]);
    const redYs = [...(/class="over-limit" d="([^"]+)"/.exec(over)?.[1] ?? '').matchAll(/(?:V|M[\d.]+ )([\d.]+)/g)].map((m) =>
      Number(m[1]),
    );
    expect(redYs.length).toBeGreaterThan(0);
    for (const y of redYs) expect(y).toBeLessThanOrEqual(limitY);
    expect(Math.min(...redYs)).toBeLessThan(limitY);
  });

  it('labels each panel with its peak, in red only when over the limit, and its number of starts', () => {
    const [within = '', over = ''] = panelsOf(chart);
    expect(within).toContain('> &#160;·&#160;max 20 in any 100 ms</tspan>');
    expect(over).toMatch(/fill="#cf222e" font-weight="600"> &#160;·&#160;max 40 in any 100 ms</);
    expect(within).toContain('600 starts');
    expect(over).toContain('limit 20 per 100 ms');
  });

  it('draws every panel on the same y scale', () => {
    const yTicks = panelsOf(chart).map((panel) => [...panel.matchAll(/<text x="58" y="[\d.]+">(\d+)<\/text>/g)].map((m) => m[1]));
    expect(yTicks[0]?.length).toBeGreaterThan(2);
    expect(yTicks[1]).toEqual(yTicks[0]);
    // The scale reaches past the highest peak of all panels.
    expect(Number(yTicks[0]?.at(-1))).toBeGreaterThanOrEqual(40);
  });

  it('draws every panel on the same x scale, which the longest series spans from edge to edge', () => {
    const ends = panelsOf(chart).map((panel) => {
      const limit = /class="limit" d="M([\d.]+) [\d.]+H([\d.]+)"/.exec(panel);
      const curve = /<path d="(M[^"]+)" fill="none"/.exec(panel)?.[1] ?? '';
      const xs = [...curve.matchAll(/(?:M|H)([\d.]+)/g)].map((m) => Number(m[1]));
      return { left: Number(limit?.[1]), right: Number(limit?.[2]), first: xs[0], last: Math.max(...xs) };
    });
    for (const end of ends) expect(end.first).toBe(end.left);
    expect(Math.max(...ends.map((end) => end.last))).toBe(ends[0]?.right);
    // The shorter series ends short of the edge, by its shorter span.
    expect(Math.min(...ends.map((end) => end.last))).toBeLessThan(ends[0]?.right ?? 0);
  });

  it('escapes labels and the title for XML and drops control characters', () => {
    const svg = windowChart({
      title: "p<q> & 'r'",
      limit: 2,
      windowMs: 10,
      series: [{ label: 'a<b & "c"\u0001', starts: [0, 1] }],
    });
    expect(checkXml(svg)).toBe('svg');
    expect(svg).toContain('a&lt;b &amp; &quot;c&quot;</tspan>');
    expect(svg).toContain('p&lt;q&gt; &amp; &apos;r&apos;');
    expect(svg).not.toContain('a<b');
    expect(svg).not.toContain('\u0001');
  });

  it('stays under 200 KB for 3 series of 600 starts over 3 s', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const jittered = steady.map((start) => start + random() * 3);
    const svg = windowChart({
      title: 'size',
      limit: 20,
      windowMs: 100,
      series: [
        { label: 'steady', starts: steady },
        { label: 'fixed', starts: fixed },
        { label: 'jittered', starts: jittered },
      ],
    });
    expect(svg.length).toBeLessThan(200_000);
  });

  it('names the option and the value it rejects', () => {
    const series = [{ label: 'x', starts: [0] }];
    expect(() => windowChart({ title: 't', limit: 0, windowMs: 100, series })).toThrow(
      'Expected `limit` to be a finite number > 0, got `0` (number)',
    );
    expect(() => windowChart({ title: 't', limit: 1, windowMs: Number.NaN, series })).toThrow('`windowMs`');
    expect(() => windowChart({ title: 't', limit: 1, windowMs: 100, series: [] })).toThrow('`series`');
    expect(() =>
      windowChart({ title: 't', limit: 1, windowMs: 100, series: [{ label: 'x', starts: [0, Number.POSITIVE_INFINITY] }] }),
    ).toThrow('`series[0].starts[1]`');
  });
});

describe('checkXml (the test helper)', () => {
  it('rejects what a parser would', () => {
    expect(checkXml('<a><b x="1"/>t &amp; u</a>')).toBe('a');
    for (const bad of ['<a><b></a></b>', '<a>x & y</a>', '<a x=1/>', '<a x="1" x="2"/>', '<a/><b/>', '<a>', '<a title="<"/>'])
      expect(() => checkXml(bad), bad).toThrow();
  });
});
