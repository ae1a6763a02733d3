/**
 * A chart of how many requests started in each sliding window, written as a standalone SVG document
 * (no dependency, no browser), so the benchmark can show at a glance whether a limiter kept to
 * "`limit` per `windowMs`" in every window or only in its own fixed buckets.
 */

export interface ChartSeries {
  /** Shown on the series' panel. Any text: it is escaped for XML. */
  label: string;
  /** Start times in ms, `performance.now()` values or any other origin; need not be sorted. */
  starts: readonly number[];
}

export interface WindowChartOptions {
  title: string;
  /** The limit the series should keep to, drawn as a dashed line; counts above it are filled red. */
  limit: number;
  windowMs: number;
  /** One panel each, stacked in this order, all on the same x and y scales. */
  series: readonly ChartSeries[];
}

export interface WindowCount {
  /** ms since the series' first start. */
  t: number;
  /** Starts in the window (t − windowMs, t], from t until the next point. */
  count: number;
}

/**
 * The number of starts in the sliding window (t − windowMs, t] as a step function of t: one point
 * where the count changes, from the first start (count > 0) to the moment the last start leaves the
 * window (count 0). The count only changes at a start or `windowMs` after one, so these points are
 * exact: no sampling step can miss a peak or blur a drop.
 *
 * A start s is in the window at t when s <= t < s + windowMs, the limiter's own rule (an entry expires
 * once `time + windowMs <= now`), written with an addition so a start leaves exactly at s + windowMs.
 */
export function windowCounts(starts: readonly number[], windowMs: number): WindowCount[] {
  const sorted = [...starts].sort((a, b) => a - b);
  const origin = sorted[0];
  if (origin === undefined) return [];
  const points: WindowCount[] = [];
  let entered = 0;
  let left = 0;
  let last = 0;
  while (left < sorted.length) {
    const nextExpiry = (sorted[left] as number) + windowMs;
    const t = entered < sorted.length ? Math.min(sorted[entered] as number, nextExpiry) : nextExpiry;
    while (entered < sorted.length && (sorted[entered] as number) <= t) entered++;
    while (left < sorted.length && (sorted[left] as number) + windowMs <= t) left++;
    const count = entered - left;
    if (count !== last) points.push({ t: t - origin, count });
    last = count;
  }
  return points;
}

/** The most starts in any window: the largest count of {@link windowCounts}, 0 without starts. */
export function peakCount(points: readonly WindowCount[]): number {
  return points.reduce((peak, point) => Math.max(peak, point.count), 0);
}

const WIDTH = 900;
const PLOT_LEFT = 64;
const PLOT_RIGHT = WIDTH - 24;
const PANELS_TOP = 52;
const PANEL_HEIGHT = 180;
/** From a panel's top: its label's baseline, then its plot area. */
const LABEL_BASELINE = 16;
const PLOT_TOP = 30;
const PLOT_BOTTOM = 160;
const FOOTER = 44;

/** GitHub's Primer colours, on a white background of our own so dark mode does not hide the axes. */
const COLOUR = {
  text: '#1f2328',
  muted: '#59636e',
  grid: '#d1d9e0',
  curve: '#0969da',
  over: '#cf222e',
};
const FONT = 'font-family="-apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, Arial, sans-serif"';

/**
 * A complete SVG document: one panel per series with the sliding-window count over time, the limit
 * as a dashed line, the part above it in red, and each series' label, peak and number of starts.
 */
export function windowChart(options: WindowChartOptions): string {
  validate(options);
  const { title, limit, windowMs, series } = options;
  const panels = series.map((entry) => {
    const points = windowCounts(entry.starts, windowMs);
    return { label: entry.label, starts: entry.starts.length, points, peak: peakCount(points) };
  });

  // Every series runs until its last start leaves the window; the widest sets the shared x scale.
  const xMax = Math.max(windowMs, ...panels.map((panel) => panel.points.at(-1)?.t ?? 0));
  const xStep = niceStep(xMax / 8);
  // Headroom above the limit and the highest peak, so the limit's label and the red area fit the plot.
  const yTop = Math.max(limit, ...panels.map((panel) => panel.peak)) * 1.15;
  const yStep = niceStep(yTop / 5);
  const yMax = Math.ceil(yTop / yStep) * yStep;
  const x = (t: number) => PLOT_LEFT + (t / xMax) * (PLOT_RIGHT - PLOT_LEFT);
  const height = PANELS_TOP + panels.length * PANEL_HEIGHT + FOOTER - (PANEL_HEIGHT - PLOT_BOTTOM);

  const parts: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" ${FONT} font-size="12" fill="${COLOUR.text}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${PLOT_LEFT}" y="28" font-size="16" font-weight="600">${escapeXml(title)}</text>`,
  ];

  panels.forEach((panel, index) => {
    const top = PANELS_TOP + index * PANEL_HEIGHT;
    const plotTop = top + PLOT_TOP;
    const plotBottom = top + PLOT_BOTTOM;
    const y = (count: number) => plotBottom - (count / yMax) * (plotBottom - plotTop);
    const isLast = index === panels.length - 1;
    parts.push(`<g class="panel">`);

    // Grid and ticks.
    const grid: string[] = [];
    for (let tick = 0; tick <= yMax + yStep / 1e6; tick += yStep) grid.push(`M${PLOT_LEFT} ${num(y(tick))}H${PLOT_RIGHT}`);
    for (let tick = 0; tick <= xMax + xStep / 1e6; tick += xStep) grid.push(`M${num(x(tick))} ${plotTop}V${plotBottom}`);
    parts.push(`<path d="${grid.join('')}" stroke="${COLOUR.grid}" stroke-width="1" fill="none" shape-rendering="crispEdges"/>`);
    const yLabels: string[] = [];
    for (let tick = 0; tick <= yMax + yStep / 1e6; tick += yStep)
      yLabels.push(`<text x="${PLOT_LEFT - 6}" y="${num(y(tick) + 4)}">${tickLabel(tick, yStep)}</text>`);
    parts.push(`<g text-anchor="end" fill="${COLOUR.muted}" font-size="11">${yLabels.join('')}</g>`);
    const middle = (plotTop + plotBottom) / 2;
    parts.push(
      `<text transform="translate(18 ${num(middle)}) rotate(-90)" text-anchor="middle" fill="${COLOUR.muted}" font-size="11">starts in window</text>`,
    );

    // The count: a light area under the step line, with the part above the limit in red.
    const curve = stepPath(panel.points, x, y);
    if (curve !== '') {
      parts.push(`<path d="${curve}Z" fill="${COLOUR.curve}" fill-opacity="0.12"/>`);
      const over = overLimitPath(panel.points, limit, x, y);
      if (over !== '') parts.push(`<path class="over-limit" d="${over}" fill="${COLOUR.over}" fill-opacity="0.55"/>`);
    }
    const limitY = y(limit);
    parts.push(
      `<path class="limit" d="M${PLOT_LEFT} ${num(limitY)}H${PLOT_RIGHT}" stroke="${COLOUR.text}" stroke-width="1.25" stroke-dasharray="6 4" fill="none"/>`,
    );
    if (curve !== '') parts.push(`<path d="${curve}" fill="none" stroke="${COLOUR.curve}" stroke-width="1.25" stroke-linejoin="miter"/>`);
    // The limit's label sits just above its line, or below it when the line is at the top of the plot;
    // a white halo keeps it readable where the curve or the red area runs behind it.
    const limitLabelY = limitY - plotTop < 16 ? limitY + 14 : limitY - 5;
    parts.push(
      `<text x="${PLOT_RIGHT - 4}" y="${num(limitLabelY)}" text-anchor="end" font-size="11" stroke="#ffffff" stroke-width="3" paint-order="stroke">limit ${escapeXml(num(limit))} per ${escapeXml(num(windowMs))} ms</text>`,
    );

    // Axes, then the panel's label.
    parts.push(
      `<path d="M${PLOT_LEFT} ${plotTop}V${plotBottom}H${PLOT_RIGHT}" stroke="${COLOUR.muted}" stroke-width="1" fill="none" shape-rendering="crispEdges"/>`,
    );
    const isOver = panel.peak > limit;
    parts.push(
      `<text class="panel-label" x="${PLOT_LEFT}" y="${top + LABEL_BASELINE}"><tspan font-weight="600">${escapeXml(panel.label)}</tspan>` +
        `<tspan fill="${isOver ? COLOUR.over : COLOUR.muted}"${isOver ? ' font-weight="600"' : ''}> &#160;·&#160;max ${panel.peak} in any ${escapeXml(num(windowMs))} ms</tspan>` +
        `<tspan fill="${COLOUR.muted}"> &#160;·&#160;${panel.starts} starts</tspan></text>`,
    );
    if (isLast) {
      const xLabels: string[] = [];
      for (let tick = 0; tick <= xMax + xStep / 1e6; tick += xStep)
        xLabels.push(`<text x="${num(x(tick))}" y="${plotBottom + 16}">${tickLabel(tick, xStep)}</text>`);
      parts.push(`<g text-anchor="middle" fill="${COLOUR.muted}" font-size="11">${xLabels.join('')}</g>`);
      parts.push(
        `<text x="${num((PLOT_LEFT + PLOT_RIGHT) / 2)}" y="${plotBottom + 34}" text-anchor="middle" fill="${COLOUR.muted}" font-size="11">ms since the series' first start</text>`,
      );
    }
    parts.push('</g>');
  });

  parts.push('</svg>', '');
  return parts.join('\n');
}

/**
 * The count as a step line from the baseline at t = 0 back to the baseline when the last start leaves
 * the window. Points that round to the same x become one vertical move, which keeps dense series small.
 */
function stepPath(points: readonly WindowCount[], x: (t: number) => number, y: (count: number) => number): string {
  if (points.length === 0) return '';
  let d = `M${num(x(0))} ${num(y(0))}`;
  let lastX = num(x(0));
  for (const point of points) {
    const px = num(x(point.t));
    if (px !== lastX) d += `H${px}`;
    d += `V${num(y(point.count))}`;
    lastX = px;
  }
  return d;
}

/** One closed shape per run of counts above `limit`, between the limit line and the step line. */
function overLimitPath(points: readonly WindowCount[], limit: number, x: (t: number) => number, y: (count: number) => number): string {
  let d = '';
  let open = false;
  points.forEach((point, index) => {
    const next = points[index + 1];
    if (point.count <= limit || next === undefined) {
      if (open) d += `V${num(y(limit))}Z`;
      open = false;
      return;
    }
    if (!open) d += `M${num(x(point.t))} ${num(y(limit))}`;
    d += `V${num(y(point.count))}H${num(x(next.t))}`;
    open = true;
  });
  return d;
}

/** The smallest 1, 2 or 5 × 10^k at least `raw`. */
function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= raw * (1 - 1e-9)) return factor * power;
  return 10 * power;
}

/** A tick value with as many decimals as its step needs. */
function tickLabel(value: number, step: number): string {
  return value.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

/** A coordinate to one decimal, without a trailing ".0": pixels need no more and the file stays small. */
function num(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** Escapes text for XML content and attributes, and drops the control characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- matching the control characters is the point
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

function validate(options: WindowChartOptions): void {
  const positive = (name: string, value: number) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      throw new TypeError(`Expected \`${name}\` to be a finite number > 0, got \`${String(value)}\` (${typeof value})`);
  };
  positive('limit', options.limit);
  positive('windowMs', options.windowMs);
  if (options.series.length === 0) throw new TypeError('Expected `series` to hold at least one series, got none');
  options.series.forEach((entry, index) => {
    const bad = entry.starts.findIndex((start) => typeof start !== 'number' || !Number.isFinite(start));
    if (bad !== -1) {
      const value = entry.starts[bad];
      throw new TypeError(`Expected \`series[${index}].starts[${bad}]\` to be a finite number, got \`${String(value)}\` (${typeof value})`);
    }
  });
}
