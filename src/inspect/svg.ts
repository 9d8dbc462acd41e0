import { childToward, commonParent, isStrictAncestor, parentPath, stateAt, statesByPath, type MachineGraph, type StateInfo, type TransitionInfo } from './machine-graph.ts';

/**
 * A machine graph drawn as SVG, offline and deterministically: compound states are rounded boxes
 * holding their children in layers (top to bottom, following the transitions), arrows carry their
 * event names, and each state's description, entry actions and guards are tooltips (`<title>`).
 * Forward arrows go straight between neighbouring layers or curve down the left; arrows back
 * up curve on the right. Readable, not fancy.
 *
 * Every state is a `<g class="state" id="<xstate id>" data-state-path="leader.replicating">`
 * (the root's path is ''), drawn parents first; the `active` option lights states up (class
 * `active`, amber). Colours are presentation attributes, so a page's CSS can override them.
 * No node:* imports: a browser page may bundle this module.
 */
export interface SvgOptions {
  /** State paths to draw lit (class `active`), e.g. activeStatePaths(snapshot.value). */
  readonly active?: readonly string[];
}

const fontFamily = 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
/** Character widths of the monospace font at the sizes used (0.6 em). */
const titleCharWidth = 7.8;
const detailCharWidth = 6.6;
const labelCharWidth = 6.6;
const titleHeight = 24;
const detailLineHeight = 15;
const labelLineHeight = 14;
const padding = 12;
const initialMarkerHeight = 22;
const rowGap = 48;
const columnGap = 36;
const atomicWidthMin = 120;
const detailCharsMax = 46;
const curveOffsetBase = 28;
const curveOffsetStep = 22;
const selfLoopReach = 26;
const margin = 16;
/** Colours as presentation attributes, not a <style> block, so a page with a strict CSP shows them and its own CSS overrides them. */
const ink = '#0f172a';
const arrowInk = '#334155';
const atomicPaint = 'fill="#ffffff" stroke="#475569" stroke-width="1.2"';
const compoundPaint = 'fill="#f1f5f9" stroke="#94a3b8" stroke-width="1.2"';
const activePaint = 'fill="#fef3c7" stroke="#d97706" stroke-width="2.5"';

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** All transitions between one source and one target, drawn as one arrow. */
interface Arrow {
  readonly source: string;
  readonly target: string;
  readonly transitions: TransitionInfo[];
  route: Route;
}

type Route =
  | { kind: 'self' }
  | { kind: 'enter' }
  | { kind: 'exit' }
  | { kind: 'straight' }
  | { kind: 'left' | 'right'; owner: string; index: number };

interface Measured {
  readonly state: StateInfo;
  readonly details: string[];
  readonly rows: string[][];
  leftGutter: number;
  rightGutter: number;
  w: number;
  h: number;
}

/** The SVG text of `graph` (see the module comment). */
export function toSvg(graph: MachineGraph, options: SvgOptions = {}): string {
  const byPath = statesByPath(graph);
  const layers = layersOf(graph);
  const arrows = arrowsOf(graph, layers);
  const measured = new Map<string, Measured>();
  measure(stateAt(byPath, ''), graph, byPath, layers, arrows, measured);
  const rects = new Map<string, Rect>();
  place('', margin, margin, measured, rects);
  const root = rects.get('') as Rect;
  const width = root.w + 2 * margin;
  const height = root.h + 2 * margin;
  const active = new Set(options.active ?? []);
  const prefix = graph.id;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${num(width)} ${num(height)}" width="${num(width)}" height="${num(height)}" font-family="${fontFamily}" data-machine="${escapeXml(graph.id)}">`,
    `<defs><marker id="${prefix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="${arrowInk}"/></marker></defs>`,
  ];
  for (const state of graph.states) drawState(state, measured.get(state.path) as Measured, rects, active.has(state.path), prefix, out);
  for (const arrow of arrows) drawArrow(arrow, rects, prefix, out);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Each compound state's children in layers: the initial child first, then longest paths along the
 * transitions between them (back edges of a depth-first walk ignored); a child no sibling leads to
 * (a fail-stop state reached from anywhere) goes last.
 */
function layersOf(graph: MachineGraph): Map<string, number> {
  const layers = new Map<string, number>();
  for (const state of graph.states) {
    if (state.children.length === 0) continue;
    const next = new Map<string, string[]>(state.children.map((child) => [child, []]));
    for (const transition of graph.transitions) {
      for (const target of transition.targets) {
        if (isStrictAncestor(transition.source, target) || isStrictAncestor(target, transition.source) || transition.source === target) continue;
        if (commonParent(transition.source, target) !== state.path) continue;
        const from = childToward(state.path, transition.source);
        const to = childToward(state.path, target);
        if (from !== to && !(next.get(from) ?? []).includes(to)) next.get(from)?.push(to);
      }
    }
    const forward = acyclic(state, next);
    const order = [...state.children];
    const layer = new Map<string, number>();
    const start = state.initial ?? order[0];
    layer.set(start, 0);
    // Longest path on a DAG: relax in a topological order (Kahn's algorithm over `forward`).
    const incoming = new Map<string, number>(order.map((child) => [child, 0]));
    for (const targets of forward.values()) for (const to of targets) incoming.set(to, (incoming.get(to) ?? 0) + 1);
    const ready = order.filter((child) => incoming.get(child) === 0);
    while (ready.length > 0) {
      const from = ready.shift() as string;
      for (const to of forward.get(from) ?? []) {
        if (layer.has(from)) layer.set(to, Math.max(layer.get(to) ?? 0, (layer.get(from) as number) + 1));
        incoming.set(to, (incoming.get(to) as number) - 1);
        if (incoming.get(to) === 0) ready.push(to);
      }
    }
    const last = Math.max(0, ...layer.values()) + 1;
    for (const child of order) layers.set(child, layer.get(child) ?? last);
  }
  return layers;
}

/** `next` without the back edges a depth-first walk from the initial child (then the others, in order) finds. */
function acyclic(state: StateInfo, next: ReadonlyMap<string, string[]>): Map<string, string[]> {
  const forward = new Map<string, string[]>();
  const onStack = new Set<string>();
  const seen = new Set<string>();
  const visit = (node: string): void => {
    seen.add(node);
    onStack.add(node);
    const kept: string[] = [];
    for (const to of next.get(node) ?? []) {
      if (onStack.has(to)) continue;
      kept.push(to);
      if (!seen.has(to)) visit(to);
    }
    forward.set(node, kept);
    onStack.delete(node);
  };
  const roots = state.initial === null ? state.children : [state.initial, ...state.children.filter((child) => child !== state.initial)];
  for (const child of roots) if (!seen.has(child)) visit(child);
  return forward;
}

/** One arrow per (source, target) pair, in document order, each with its route. */
function arrowsOf(graph: MachineGraph, layers: ReadonlyMap<string, number>): Arrow[] {
  const arrows = new Map<string, Arrow>();
  for (const transition of graph.transitions) {
    for (const target of transition.targets) {
      const key = `${transition.source}\u0000${target}`;
      const arrow = arrows.get(key);
      if (arrow !== undefined) arrow.transitions.push(transition);
      else arrows.set(key, { source: transition.source, target, transitions: [transition], route: { kind: 'straight' } });
    }
  }
  const sideCounts = new Map<string, number>();
  for (const arrow of arrows.values()) {
    const { source, target } = arrow;
    if (source === target) arrow.route = { kind: 'self' };
    else if (isStrictAncestor(source, target)) arrow.route = { kind: 'enter' };
    else if (isStrictAncestor(target, source)) arrow.route = { kind: 'exit' };
    else {
      const owner = commonParent(source, target);
      const from = childToward(owner, source);
      const to = childToward(owner, target);
      const down = (layers.get(to) as number) - (layers.get(from) as number);
      const direct = from === source && to === target;
      if (direct && (down === 1 || down === 0)) continue;
      const side = down > 0 ? 'left' : 'right';
      const count = sideCounts.get(`${owner}\u0000${side}`) ?? 0;
      sideCounts.set(`${owner}\u0000${side}`, count + 1);
      arrow.route = { kind: side, owner, index: count };
    }
  }
  return [...arrows.values()];
}

function arrowLines(arrow: Arrow): string[] {
  return [...new Set(arrow.transitions.map((transition) => transition.label))];
}

function labelWidth(lines: readonly string[]): number {
  return Math.max(0, ...lines.map((line) => line.length * labelCharWidth));
}

function curveOffset(index: number): number {
  return curveOffsetBase + index * curveOffsetStep;
}

/** What a state box lists under its name: entry actions, invoked actors, events handled in place. */
function detailsOf(state: StateInfo, graph: MachineGraph): string[] {
  const lines: string[] = [];
  if (state.entry.length > 0) lines.push(...wrap('entry / ', state.entry));
  if (state.invoke.length > 0) lines.push(...wrap('invoke ', state.invoke));
  const inPlace = [...new Set(graph.transitions.filter((t) => t.source === state.path && t.targets.length === 0).map((t) => t.label))];
  if (inPlace.length > 0) lines.push(...wrap('on ', inPlace));
  return lines;
}

function wrap(head: string, words: readonly string[]): string[] {
  const lines: string[] = [];
  let line = head;
  for (const [i, word] of words.entries()) {
    const piece = i < words.length - 1 ? `${word}, ` : word;
    if (line.length + piece.length > detailCharsMax && line.trim() !== head.trim()) {
      lines.push(line.trimEnd());
      line = ' '.repeat(head.length);
    }
    line += piece;
  }
  lines.push(line);
  return lines;
}

/** Sizes, bottom up: a box fits its name, its details, its children in rows and the arrow labels in its gutters. */
function measure(
  state: StateInfo,
  graph: MachineGraph,
  byPath: ReadonlyMap<string, StateInfo>,
  layers: ReadonlyMap<string, number>,
  arrows: readonly Arrow[],
  measured: Map<string, Measured>,
): Measured {
  const details = detailsOf(state, graph);
  const textWidth = Math.max(state.key.length * titleCharWidth, ...details.map((line) => line.length * detailCharWidth));
  const headerHeight = titleHeight + details.length * detailLineHeight;
  const rowsByLayer = new Map<number, string[]>();
  for (const child of state.children) {
    measure(stateAt(byPath, child), graph, byPath, layers, arrows, measured);
    const layer = layers.get(child) as number;
    rowsByLayer.set(layer, [...(rowsByLayer.get(layer) ?? []), child]);
  }
  const rows = [...rowsByLayer.entries()].sort((a, b) => a[0] - b[0]).map(([, row]) => row);
  const result: Measured = { state, details, rows, leftGutter: 0, rightGutter: 0, w: 0, h: 0 };
  for (const arrow of arrows) {
    const width = labelWidth(arrowLines(arrow));
    const route = arrow.route;
    if (route.kind === 'enter' && arrow.source === state.path) result.leftGutter = Math.max(result.leftGutter, width + 16);
    if (route.kind === 'exit' && arrow.target === state.path) result.rightGutter = Math.max(result.rightGutter, width + 16);
    if (route.kind === 'self' && parentPath(arrow.source) === state.path) result.rightGutter = Math.max(result.rightGutter, selfLoopReach + width + 12);
    if ((route.kind === 'left' || route.kind === 'right') && route.owner === state.path) {
      const need = curveOffset(route.index) * 0.75 + width + 12;
      if (route.kind === 'left') result.leftGutter = Math.max(result.leftGutter, need);
      else result.rightGutter = Math.max(result.rightGutter, need);
    }
  }
  if (rows.length === 0) {
    result.w = Math.max(atomicWidthMin, textWidth + 2 * padding);
    result.h = headerHeight + padding;
  } else {
    const rowWidth = (row: readonly string[]) => row.reduce((sum, child) => sum + (measured.get(child) as Measured).w, 0) + columnGap * (row.length - 1);
    const rowHeight = (row: readonly string[]) => Math.max(...row.map((child) => (measured.get(child) as Measured).h));
    const childrenWidth = Math.max(...rows.map(rowWidth));
    const childrenHeight = rows.reduce((sum, row) => sum + rowHeight(row), 0) + rowGap * (rows.length - 1);
    result.w = Math.max(textWidth + 2 * padding, result.leftGutter + padding + childrenWidth + padding + result.rightGutter);
    result.h = headerHeight + initialMarkerHeight + childrenHeight + padding;
  }
  measured.set(state.path, result);
  return result;
}

/** Positions, top down: children rows start under the header and the initial marker, left after the gutter. */
function place(path: string, x: number, y: number, measured: ReadonlyMap<string, Measured>, rects: Map<string, Rect>): void {
  const box = measured.get(path) as Measured;
  rects.set(path, { x, y, w: box.w, h: box.h });
  let rowY = y + titleHeight + box.details.length * detailLineHeight + initialMarkerHeight;
  for (const row of box.rows) {
    let childX = x + box.leftGutter + padding;
    for (const child of row) {
      place(child, childX, rowY, measured, rects);
      childX += (measured.get(child) as Measured).w + columnGap;
    }
    rowY += Math.max(...row.map((child) => (measured.get(child) as Measured).h)) + rowGap;
  }
}

function drawState(state: StateInfo, box: Measured, rects: ReadonlyMap<string, Rect>, active: boolean, prefix: string, out: string[]): void {
  const rect = rects.get(state.path) as Rect;
  const classes = ['state', state.children.length > 0 ? 'compound' : 'atomic', ...(active ? ['active'] : [])].join(' ');
  const tooltip = [state.path === '' ? `${state.key} (machine)` : state.path, state.description ?? '', state.entry.length > 0 ? `entry: ${state.entry.join(', ')}` : '']
    .filter((line) => line !== '')
    .join('\n');
  out.push(`<g class="${classes}" id="${escapeXml(state.id)}" data-state-path="${escapeXml(state.path)}">`);
  out.push(`<title>${escapeXml(tooltip)}</title>`);
  const paint = active ? activePaint : state.children.length > 0 ? compoundPaint : atomicPaint;
  out.push(`<rect x="${num(rect.x)}" y="${num(rect.y)}" width="${num(rect.w)}" height="${num(rect.h)}" rx="10" ry="10" ${paint}/>`);
  out.push(`<text class="name" x="${num(rect.x + padding)}" y="${num(rect.y + 17)}" font-size="13" font-weight="bold" fill="#0f172a">${escapeXml(state.key)}</text>`);
  box.details.forEach((line, i) => {
    out.push(`<text class="detail" x="${num(rect.x + padding)}" y="${num(rect.y + titleHeight + 11 + i * detailLineHeight)}" font-size="11" fill="#475569" xml:space="preserve">${escapeXml(line)}</text>`);
  });
  if (state.initial !== null) {
    const first = rects.get(state.initial) as Rect;
    const cx = first.x + 14;
    out.push(`<circle class="initial" cx="${num(cx)}" cy="${num(first.y - initialMarkerHeight + 5)}" r="4" fill="${ink}"/>`);
    out.push(`<path class="initial" d="M ${num(cx)} ${num(first.y - initialMarkerHeight + 9)} L ${num(cx)} ${num(first.y)}" fill="none" stroke="${ink}" marker-end="url(#${prefix}-arrow)"/>`);
  }
  out.push('</g>');
}

function drawArrow(arrow: Arrow, rects: ReadonlyMap<string, Rect>, prefix: string, out: string[]): void {
  const s = rects.get(arrow.source) as Rect;
  const t = rects.get(arrow.target) as Rect;
  const lines = arrowLines(arrow);
  let d: string;
  let label: { x: number; y: number; anchor: 'start' | 'end' };
  const route = arrow.route;
  switch (route.kind) {
    case 'self': {
      const x = s.x + s.w;
      d = `M ${num(x)} ${num(s.y + 10)} C ${num(x + selfLoopReach * 1.3)} ${num(s.y + 4)}, ${num(x + selfLoopReach * 1.3)} ${num(s.y + 40)}, ${num(x)} ${num(s.y + 32)}`;
      label = { x: x + selfLoopReach + 6, y: s.y + 14, anchor: 'start' };
      break;
    }
    case 'enter': {
      const y = t.y + 16;
      d = `M ${num(s.x)} ${num(y)} L ${num(t.x)} ${num(y)}`;
      label = { x: s.x + 6, y: y + 13, anchor: 'start' };
      break;
    }
    case 'exit': {
      const y = s.y + s.h - 10;
      d = `M ${num(s.x + s.w)} ${num(y)} L ${num(t.x + t.w)} ${num(y)}`;
      label = { x: s.x + s.w + 6, y: y - 5 - (lines.length - 1) * labelLineHeight, anchor: 'start' };
      break;
    }
    case 'straight': {
      const sameRow = Math.abs(s.y - t.y) < 1;
      if (sameRow) {
        const leftToRight = s.x < t.x;
        const y = Math.min(s.y + s.h, t.y + t.h) / 2 + Math.max(s.y, t.y) / 2;
        d = `M ${num(leftToRight ? s.x + s.w : s.x)} ${num(y)} L ${num(leftToRight ? t.x : t.x + t.w)} ${num(y)}`;
        label = { x: (leftToRight ? s.x + s.w : t.x + t.w) + 4, y: y - 5, anchor: 'start' };
      } else {
        const x1 = s.x + s.w / 2;
        const x2 = t.x + t.w / 2;
        d = `M ${num(x1)} ${num(s.y + s.h)} L ${num(x2)} ${num(t.y)}`;
        label = { x: (x1 + x2) / 2 + 8, y: (s.y + s.h + t.y) / 2 + 4 - ((lines.length - 1) * labelLineHeight) / 2, anchor: 'start' };
      }
      break;
    }
    case 'left':
    case 'right': {
      const owner = rects.get(route.owner) as Rect;
      const offset = curveOffset(route.index);
      if (route.kind === 'left') {
        const y1 = s.y + Math.min(s.h / 2, 40);
        const y2 = t.y + Math.min(t.h / 2, 40);
        const edge = Math.min(s.x, t.x);
        const cx = Math.max(owner.x + 4, edge - offset);
        d = `M ${num(s.x)} ${num(y1)} C ${num(cx)} ${num(y1)}, ${num(cx)} ${num(y2)}, ${num(t.x)} ${num(y2)}`;
        label = { x: edge - (edge - cx) * 0.75 - 4, y: (y1 + y2) / 2 - ((lines.length - 1) * labelLineHeight) / 2, anchor: 'end' };
      } else {
        // Up the right side: leave the source's middle, arrive low on the target, clear of self-loops at the top.
        const y1 = s.y + s.h / 2;
        const y2 = t.y + t.h - 10;
        const edge = Math.max(s.x + s.w, t.x + t.w);
        const cx = edge + offset;
        d = `M ${num(s.x + s.w)} ${num(y1)} C ${num(cx)} ${num(y1)}, ${num(cx)} ${num(y2)}, ${num(t.x + t.w)} ${num(y2)}`;
        label = { x: edge + offset * 0.75 + 4, y: (y1 + y2) / 2 - ((lines.length - 1) * labelLineHeight) / 2, anchor: 'start' };
      }
      break;
    }
  }
  const tooltip = arrow.transitions
    .map((t) => `${t.label}${t.guard === null ? '' : ` [${t.guard}]`}${t.actions.length > 0 ? ` / ${t.actions.join(', ')}` : ''}${t.description === null ? '' : ` — ${t.description}`}`)
    .join('\n');
  const events = [...new Set(arrow.transitions.map((t) => t.event))].join(' ');
  out.push(`<g class="transition" data-source="${escapeXml(arrow.source)}" data-target="${escapeXml(arrow.target)}" data-events="${escapeXml(events)}">`);
  out.push(`<title>${escapeXml(tooltip)}</title>`);
  out.push(`<path d="${d}" fill="none" stroke="${arrowInk}" stroke-width="1.2" marker-end="url(#${prefix}-arrow)"/>`);
  lines.forEach((line, i) => {
    out.push(`<text x="${num(label.x)}" y="${num(label.y + i * labelLineHeight)}" text-anchor="${label.anchor}" font-size="11" fill="#1e3a8a">${escapeXml(line)}</text>`);
  });
  out.push('</g>');
}

/** Rounded to 0.1 so the output is the same on every platform. */
function num(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
