/**
 * A tiny SVG writer for the benchmark's chart: two panels side by side, committed ops/s (linear)
 * and p99 latency (log) against concurrency (log), one line per configuration, a legend below.
 * No dependencies; the output is plain SVG 1.1 that GitHub renders in a README.
 */

export interface ChartPoint {
  readonly concurrency: number;
  readonly opsPerSec: number;
  readonly p99Ms: number;
}

export interface ChartSeries {
  readonly label: string;
  readonly points: readonly ChartPoint[];
}

const panelWidth = 420;
const panelHeight = 280;
const margin = { left: 70, right: 20, top: 52, bottom: 45 };
const legendLineHeight = 18;
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The chart as an SVG document; `title` goes on top. Series with no points are left out. */
export function renderChart(title: string, series: readonly ChartSeries[]): string {
  const drawn = series.filter((s) => s.points.length > 0);
  const concurrencies = drawn.flatMap((s) => s.points.map((p) => p.concurrency));
  const xRange = logRange(concurrencies.length > 0 ? concurrencies : [1]);
  const panelOuterWidth = margin.left + panelWidth + margin.right;
  const width = 2 * panelOuterWidth;
  const legendTop = margin.top + panelHeight + margin.bottom;
  const height = legendTop + legendLineHeight * drawn.length + 10;
  const opsMax = niceCeiling(Math.max(1, ...drawn.flatMap((s) => s.points.map((p) => p.opsPerSec)).filter(Number.isFinite)));
  const p99s = drawn.flatMap((s) => s.points.map((p) => p.p99Ms)).filter((ms) => Number.isFinite(ms) && ms > 0);
  const p99Range = decadeRange(p99s.length > 0 ? p99s : [1]);
  const opsPanel = panel({
    left: 0,
    title: 'committed ops/s',
    xRange,
    y: { scale: (v) => v / opsMax, ticks: linearTicks(opsMax), label: formatCount },
    series: drawn,
    value: (p) => p.opsPerSec,
  });
  const p99Panel = panel({
    left: panelOuterWidth,
    title: 'p99 latency, ms (log)',
    xRange,
    y: { scale: (v) => logPosition(v, p99Range), ticks: logTicks(p99Range), label: formatMs },
    series: drawn,
    value: (p) => p.p99Ms,
  });
  const legend = drawn.map((s, i) => {
    const y = legendTop + i * legendLineHeight + 12;
    const color = colors[i % colors.length];
    return (
      `<line x1="${margin.left}" y1="${y - 4}" x2="${margin.left + 24}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>` +
      `<text x="${margin.left + 30}" y="${y}">${escapeXml(s.label)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    opsPanel,
    p99Panel,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

interface PanelSpec {
  readonly left: number;
  readonly title: string;
  readonly xRange: Range;
  /** `scale` maps a value to [0, 1] up the panel. */
  readonly y: { readonly scale: (value: number) => number; readonly ticks: readonly number[]; readonly label: (value: number) => string };
  readonly series: readonly ChartSeries[];
  readonly value: (point: ChartPoint) => number;
}

function panel(spec: PanelSpec): string {
  const x0 = spec.left + margin.left;
  const y0 = margin.top + panelHeight;
  const px = (concurrency: number) => x0 + logPosition(concurrency, spec.xRange) * panelWidth;
  const py = (value: number) => y0 - spec.y.scale(value) * panelHeight;
  const parts = [
    `<text x="${x0 + panelWidth / 2}" y="${margin.top - 10}" text-anchor="middle">${escapeXml(spec.title)}</text>`,
    `<rect x="${x0}" y="${margin.top}" width="${panelWidth}" height="${panelHeight}" fill="none" stroke="#999"/>`,
  ];
  for (const tick of spec.y.ticks) {
    const y = round(py(tick));
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelWidth}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${spec.y.label(tick)}</text>`);
  }
  for (const tick of powersOfTwo(spec.xRange)) {
    const x = round(px(tick));
    parts.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 4}" stroke="#999"/>`);
    parts.push(`<text x="${x}" y="${y0 + 18}" text-anchor="middle">${tick}</text>`);
  }
  parts.push(`<text x="${x0 + panelWidth / 2}" y="${y0 + 36}" text-anchor="middle">concurrency (clients, log scale)</text>`);
  spec.series.forEach((s, i) => {
    const color = colors[i % colors.length];
    const points = [...s.points]
      .filter((p) => Number.isFinite(spec.value(p)) && spec.value(p) > 0)
      .sort((a, b) => a.concurrency - b.concurrency)
      .map((p) => [round(px(p.concurrency)), round(py(spec.value(p)))] as const);
    if (points.length > 1) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(([x, y]) => `${x},${y}`).join(' ')}"/>`);
    for (const [x, y] of points) parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${color}"/>`);
  });
  return parts.join('\n');
}

/** A log axis's range; a single value gets a decade around it. */
interface Range {
  readonly lo: number;
  readonly hi: number;
}

function logRange(values: readonly number[]): Range {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? { lo: lo / Math.SQRT2 / 2, hi: hi * Math.SQRT2 * 2 } : { lo, hi };
}

/** Where `value` sits on a log axis over `range`, in [0, 1]. */
export function logPosition(value: number, range: Range): number {
  return (Math.log(value) - Math.log(range.lo)) / (Math.log(range.hi) - Math.log(range.lo));
}

/** 1, 2, 5 × 10^k at or above `value`: the top of a linear axis. */
export function niceCeiling(value: number): number {
  const decade = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((step) => step * decade >= value) ?? 10) * decade;
}

function linearTicks(max: number): number[] {
  return [0, 0.25, 0.5, 0.75, 1].map((share) => share * max);
}

/** From the power of ten at or below the smallest value to the one at or above the largest. */
function decadeRange(values: readonly number[]): Range {
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  return { lo, hi: hi > lo ? hi : lo * 10 };
}

/** 1, 2 and 5 × each power of ten in a decade range of up to 3 decades; the powers alone beyond. */
function logTicks(range: Range): number[] {
  const decadeCount = Math.round(Math.log10(range.hi / range.lo));
  const steps = decadeCount <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let decade = range.lo; decade < range.hi; decade *= 10) ticks.push(...steps.map((step) => step * decade));
  return [...ticks, range.hi];
}

/** Powers of two within `range` (concurrencies are chosen as such), at most 12. */
function powersOfTwo(range: Range): number[] {
  const ticks: number[] = [];
  const step = Math.max(1, Math.ceil((Math.log2(range.hi) - Math.log2(Math.max(1, range.lo))) / 12));
  for (let power = Math.ceil(Math.log2(range.lo)); 2 ** power <= range.hi; power += step) ticks.push(2 ** power);
  return ticks;
}

function formatCount(value: number): string {
  return value >= 1000 ? `${Number((value / 1000).toFixed(1))}k` : String(Number(value.toFixed(1)));
}

function formatMs(value: number): string {
  return value >= 1 ? String(Number(value.toFixed(1))) : String(Number(value.toPrecision(2)));
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
