import type { SoakSample } from './soak.ts';

/**
 * The soak's chart as SVG: this process's RSS and the data folder's size against time, one panel
 * each, linear axes from 0. No dependencies; plain SVG 1.1 that GitHub renders.
 */

const panelWidth = 460;
const panelHeight = 240;
const margin = { left: 64, right: 16, top: 46, bottom: 40 };

interface Panel {
  readonly left: number;
  readonly title: string;
  readonly unit: string;
  readonly color: string;
  readonly values: readonly { readonly x: number; readonly y: number }[];
}

export function renderSoakChart(title: string, samples: readonly SoakSample[]): string {
  const panels: Panel[] = [
    { left: 0, title: 'process RSS', unit: 'MB', color: '#1f77b4', values: samples.map((s) => ({ x: s.atSec, y: s.rssMb })) },
    { left: 1, title: 'data folder (3 servers)', unit: 'MB', color: '#d62728', values: samples.map((s) => ({ x: s.atSec, y: s.dataDirBytes / 1e6 })) },
  ];
  const outer = margin.left + panelWidth + margin.right;
  const width = 2 * outer;
  const height = margin.top + panelHeight + margin.bottom;
  const xMax = niceCeiling(Math.max(1, ...samples.map((s) => s.atSec)));
  const body = panels.map((panel) => drawPanel(panel, panel.left * outer, xMax)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

function drawPanel(panel: Panel, offset: number, xMax: number): string {
  const yMax = niceCeiling(Math.max(1, ...panel.values.map((v) => v.y)));
  const x = (value: number) => offset + margin.left + (value / xMax) * panelWidth;
  const y = (value: number) => margin.top + panelHeight - (value / yMax) * panelHeight;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const lines: string[] = [
    `<text x="${offset + margin.left + panelWidth / 2}" y="${margin.top - 12}" text-anchor="middle">${escape(panel.title)} (${panel.unit})</text>`,
    `<rect x="${offset + margin.left}" y="${margin.top}" width="${panelWidth}" height="${panelHeight}" fill="none" stroke="#999"/>`,
  ];
  for (const t of ticks) {
    lines.push(`<line x1="${offset + margin.left}" x2="${offset + margin.left + panelWidth}" y1="${y(t * yMax)}" y2="${y(t * yMax)}" stroke="#eee"/>`);
    lines.push(`<text x="${offset + margin.left - 6}" y="${y(t * yMax) + 4}" text-anchor="end">${round(t * yMax)}</text>`);
    lines.push(`<text x="${x(t * xMax)}" y="${margin.top + panelHeight + 16}" text-anchor="middle">${round(t * xMax)}</text>`);
  }
  lines.push(`<text x="${offset + margin.left + panelWidth / 2}" y="${margin.top + panelHeight + 34}" text-anchor="middle">seconds under load</text>`);
  if (panel.values.length > 0) {
    const points = panel.values.map((v) => `${x(v.x).toFixed(1)},${y(v.y).toFixed(1)}`).join(' ');
    lines.push(`<polyline points="${points}" fill="none" stroke="${panel.color}" stroke-width="1.5"/>`);
  }
  return lines.join('\n');
}

/** The next multiple of half a decade at or above `value` (600 → 600, 503 → 550): an axis that the line fills. */
function niceCeiling(value: number): number {
  const half = 10 ** Math.floor(Math.log10(value)) / 2;
  return Math.ceil(value / half) * half;
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
