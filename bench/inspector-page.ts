import { setTimeout as sleep } from 'node:timers/promises';
import { Inspector } from '../src/inspect/inspector-server.ts';
import { thisProcess, type LoadPlan, type ResourceProbe } from './closed-loop.ts';
import { centerShape, type ClusterShape, type InspectorPagePlan } from './cluster-bench-options.ts';
import { formatCount, formatTable, loadAverageNow, median } from './common.ts';
import { chromiumPath, chromiumUnavailable, headlessChromiumArgs, launchHeadlessChromium, pageProblems, pageViewport, profileParent, type HeadlessChromium } from './headless-chromium.ts';
import { processTreeCpuMicros } from './proc-stat.ts';
import { withRaftchartLoad, type RaftchartLoad } from './raftchart-load.ts';

/**
 * What the inspector page costs a loaded cluster (issue #7: at most 10% of its throughput). Each
 * repetition starts one 3-server, 100 B, fsync-on cluster with the inspector serving and keeps it
 * under closed-loop load throughout, measuring three windows: no browser (closed), headless
 * Chromium on about:blank (blank: the browser's own cost) and Chromium showing the inspector page
 * (open). Their order rotates from one repetition to the next (windowOrder), so no kind always
 * comes early or late in a cluster's life, and a machine that slows mid-run weighs on every kind
 * alike. Each change (close the browser, start it, navigate) happens during the window's warm-up,
 * under load; the measurement begins only once the page has drawn its first update and Chromium
 * has settled (settleMs).
 */

export const pageWindowKinds = ['closed', 'blank', 'open'] as const;
export type PageWindowKind = (typeof pageWindowKinds)[number];

/** One measured window. */
export interface PageWindow {
  readonly rep: number;
  readonly kind: PageWindowKind;
  readonly opsPerSec: number;
  /** CPU seconds Chromium's whole process tree used in the measured window; null with no browser. */
  readonly chromiumCpuSec: number | null;
  /** CPU seconds this process used in the window: the main thread (bus, inspector) and the servers' workers. */
  readonly raftchartCpuSec: number;
  /** Updates the page received in the window (0 unless open). */
  readonly updates: number;
  /** Proposals retried after NotLeader or Timeout (warm-up included). */
  readonly retries: number;
}

/** What the JSON keeps as `inspectorPage`. */
export interface InspectorPageResult {
  readonly updatesPerSecond: number;
  /** At most this many while the cluster is busy (it is, under this load). */
  readonly updatesPerSecBusy: number;
  readonly concurrency: number;
  readonly cluster: ClusterShape;
  readonly reps: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly settleMs: number;
  /** The browser: its flags (on top of Playwright's defaults), window and where its profile lived (off the measured disk when it can). */
  readonly chromium: { readonly executable: string; readonly version: string; readonly flags: readonly string[]; readonly viewport: typeof pageViewport; readonly profileIn: string };
  /** Every window, in the order measured. */
  readonly windows: readonly PageWindow[];
  readonly opsPerSec: Readonly<Record<PageWindowKind, readonly number[]>>;
  readonly medians: Readonly<Record<PageWindowKind, number>>;
  /** Medians of Chromium's CPU seconds per window. */
  readonly chromiumCpuSecMedians: { readonly blank: number; readonly open: number };
  /** Medians of this process's CPU seconds per window. */
  readonly raftchartCpuSecMedians: Readonly<Record<PageWindowKind, number>>;
  /** 1 − open median / closed median: the share of throughput lost with the page open. */
  readonly overhead: number;
  /**
   * 1 − the median over repetitions of open / closed: the same share from windows a few seconds
   * apart, which a machine whose speed wanders from minute to minute disturbs less.
   */
  readonly overheadPaired: number;
  /** 1 − blank median / closed median: the share lost to a browser showing nothing. */
  readonly browserOverhead: number;
  /** 1 − open median / blank median: the page's own share, beyond the browser's (a user's browser runs anyway). */
  readonly pageOverhead: number;
  readonly loadAverage: { readonly atStart: readonly number[]; readonly atEnd: readonly number[] };
  /** Console errors and uncaught exceptions on the page; a sound run has none. */
  readonly pageProblems: readonly string[];
}

/** Why the measurement did not run. */
export interface InspectorPageSkipped {
  readonly skipped: string;
}

/**
 * Time the browser gets to settle before a window's measurement begins: at least this long, then
 * until it used under settledCoresMax over settleSampleMs (a fresh Chromium works at 1–1.5 cores
 * for ~2 s after its first page loads, here under load), at most settleMsMax.
 */
const settleMs = { quick: 2000, full: 3000 };
const settleSampleMs = 500;
const settledCoresMax = 0.5;
const settleMsMax = 10_000;
/** How long the page may take to draw its first update. */
const firstUpdateWaitMsMax = 30_000;

/** The share of throughput lost: 1 − with / without (0: none; negative: faster with). */
export function overheadOf(withoutMedian: number, withMedian: number): number {
  return 1 - withMedian / withoutMedian;
}

/**
 * The orders windows take, repetition after repetition: over six, each kind comes in each place
 * twice and closed comes before open as often as after; over the first four, each kind's average
 * place is the middle. A cluster's throughput drifts as its log grows, so no kind may always come
 * first or in the middle.
 */
const windowOrders: readonly (readonly PageWindowKind[])[] = [
  ['closed', 'blank', 'open'],
  ['open', 'blank', 'closed'],
  ['blank', 'open', 'closed'],
  ['closed', 'open', 'blank'],
  ['open', 'closed', 'blank'],
  ['blank', 'closed', 'open'],
];

/** Window kinds in repetition `rep` (from 1). */
export function windowOrder(rep: number): readonly PageWindowKind[] {
  return windowOrders[(rep - 1) % windowOrders.length];
}

/** The windows' figures: ops/s and CPU per kind, medians, and the overheads. */
export function summarizePageWindows(
  windows: readonly PageWindow[],
): Pick<InspectorPageResult, 'opsPerSec' | 'medians' | 'chromiumCpuSecMedians' | 'raftchartCpuSecMedians' | 'overhead' | 'overheadPaired' | 'browserOverhead' | 'pageOverhead'> {
  const of = (kind: PageWindowKind) => windows.filter((window) => window.kind === kind);
  const perKind = <T>(value: (kind: PageWindowKind) => T) => Object.fromEntries(pageWindowKinds.map((kind) => [kind, value(kind)])) as Record<PageWindowKind, T>;
  const opsPerSec = perKind((kind) => of(kind).map((window) => window.opsPerSec));
  const medians = perKind((kind) => median(opsPerSec[kind]));
  const chromiumCpu = (kind: PageWindowKind) => median(of(kind).map((window) => window.chromiumCpuSec ?? Number.NaN));
  const closedByRep = new Map(of('closed').map((window) => [window.rep, window.opsPerSec]));
  const openOverClosed = of('open').flatMap((window) => {
    const closed = closedByRep.get(window.rep);
    return closed === undefined ? [] : [window.opsPerSec / closed];
  });
  return {
    opsPerSec,
    medians,
    chromiumCpuSecMedians: { blank: chromiumCpu('blank'), open: chromiumCpu('open') },
    raftchartCpuSecMedians: perKind((kind) => median(of(kind).map((window) => window.raftchartCpuSec))),
    overhead: overheadOf(medians.closed, medians.open),
    overheadPaired: 1 - median(openOverClosed),
    browserOverhead: overheadOf(medians.closed, medians.blank),
    pageOverhead: overheadOf(medians.blank, medians.open),
  };
}

/**
 * Measures `plan` (see the module comment); `onWindow` hears each window as it begins and ends.
 * Skipped, with the reason, when Chromium or playwright-core is missing.
 */
export async function measureInspectorPage(
  plan: InspectorPagePlan,
  run: { readonly parentDir: string; readonly durationMs: number; readonly warmupMs: number; readonly quick: boolean },
  onWindow: { begin(rep: number, kind: PageWindowKind): void; end(window: PageWindow): void },
): Promise<InspectorPageResult | InspectorPageSkipped> {
  const unavailable = await chromiumUnavailable();
  if (unavailable !== null) return { skipped: unavailable };
  const atStart = loadAverageNow();
  const windows: PageWindow[] = [];
  const problems: string[] = [];
  let chromiumVersion = '';
  const loadPlan: LoadPlan = { concurrency: plan.concurrency, warmupMs: run.warmupMs, durationMs: run.durationMs };
  const settle = run.quick ? settleMs.quick : settleMs.full;
  for (let rep = 1; rep <= plan.reps; rep++) {
    await withRaftchartLoad({ ...centerShape, parentDir: run.parentDir }, async (load) => {
      const inspector = await Inspector.start(load.cluster, { port: 0, updatesPerSecMax: plan.updatesPerSecond, updatesPerSecBusy: plan.updatesPerSecBusy });
      const browser = new PageBrowser(inspector.url, problems);
      try {
        for (const kind of windowOrder(rep)) {
          onWindow.begin(rep, kind);
          const window = await measureWindow(load, loadPlan, browser, kind, settle);
          windows.push({ rep, ...window });
          onWindow.end({ rep, ...window });
        }
        chromiumVersion = browser.version || chromiumVersion;
      } finally {
        await browser.close();
        await inspector.close();
      }
    });
  }
  return {
    updatesPerSecond: plan.updatesPerSecond,
    updatesPerSecBusy: plan.updatesPerSecBusy,
    concurrency: plan.concurrency,
    cluster: centerShape,
    reps: plan.reps,
    durationMs: run.durationMs,
    warmupMs: run.warmupMs,
    settleMs: settle,
    chromium: { executable: chromiumPath, version: chromiumVersion, flags: headlessChromiumArgs, viewport: pageViewport, profileIn: profileParent },
    windows,
    ...summarizePageWindows(windows),
    loadAverage: { atStart, atEnd: loadAverageNow() },
    pageProblems: problems,
  };
}

/** Chromium's whole process tree (it is this process's child), beside this process's own CPU. */
const withChromium: ResourceProbe = { ...thisProcess, bystanderCpuMicros: () => processTreeCpuMicros(process.pid, 'chromium') };

/**
 * One window under continuous load: during the warm-up the browser is closed, or shows
 * about:blank, or the inspector page (started as needed), then settles (at least `settle` ms).
 */
async function measureWindow(load: RaftchartLoad, plan: LoadPlan, browser: PageBrowser, kind: PageWindowKind, settle: number): Promise<Omit<PageWindow, 'rep'>> {
  const ready = async () => {
    if (kind === 'closed') await browser.close();
    else await browser.show(kind);
    await settled(settle);
  };
  const window = await load.measure(plan, { probe: kind === 'closed' ? thisProcess : withChromium, ready });
  // The window ended a moment before measure() resolved (its clients' last operations): near enough for a count.
  const endedAt = performance.now();
  return {
    kind,
    opsPerSec: (window.ops / window.ms) * 1000,
    chromiumCpuSec: kind === 'closed' ? null : (window.bystanderCpuMicros ?? Number.NaN) / 1e6,
    raftchartCpuSec: window.cpuMicros / 1e6,
    updates: browser.updatesAt.filter((at) => at >= endedAt - window.ms && at <= endedAt).length,
    retries: window.retries,
  };
}

/** Resolves once Chromium (if running) has settled: see settleMs. */
async function settled(minimumMs: number): Promise<void> {
  const giveUpAt = performance.now() + settleMsMax;
  await sleep(minimumMs);
  let before = processTreeCpuMicros(process.pid, 'chromium');
  while (performance.now() < giveUpAt) {
    await sleep(settleSampleMs);
    const now = processTreeCpuMicros(process.pid, 'chromium');
    if (now - before < settledCoresMax * settleSampleMs * 1000) return;
    before = now;
  }
}

/** One headless Chromium with one page, started when first needed; it notes when the page receives updates. */
class PageBrowser {
  readonly #url: string;
  readonly #problems: string[];
  #browser: HeadlessChromium | null = null;
  /** When (performance.now()) the page received each update since it last navigated. */
  readonly updatesAt: number[] = [];
  version = '';

  constructor(url: string, problems: string[]) {
    this.#url = url;
    this.#problems = problems;
  }

  /**
   * Shows about:blank, or the inspector page once it has drawn its first update (every panel
   * filled in, both statecharts in each).
   */
  async show(kind: 'blank' | 'open'): Promise<void> {
    const { page } = this.#browser ?? (await this.#open());
    this.updatesAt.length = 0;
    await page.goto(kind === 'open' ? this.#url : 'about:blank');
    if (kind === 'blank') return;
    await page.waitForFunction(
      (servers) => document.querySelectorAll('[data-node-id][data-term]').length === servers && document.querySelectorAll('[data-node-id] .chart svg').length === 2 * servers,
      centerShape.nodes,
      { timeout: firstUpdateWaitMsMax },
    );
  }

  async close(): Promise<void> {
    const browser = this.#browser;
    this.#browser = null;
    this.updatesAt.length = 0;
    await browser?.close();
  }

  async #open(): Promise<HeadlessChromium> {
    const browser = await launchHeadlessChromium();
    this.#browser = browser;
    this.version = await browser.version();
    const { page } = browser;
    pageProblems(page, this.#problems);
    page.on('websocket', (socket) =>
      socket.on('framereceived', ({ payload }) => {
        if (typeof payload === 'string' && payload.startsWith('{"type":"update"')) this.updatesAt.push(performance.now());
      }),
    );
    return browser;
  }
}

/** The table printed after the cluster table. */
export function formatInspectorPage(result: InspectorPageResult | InspectorPageSkipped): string[] {
  if ('skipped' in result) return ['', `inspector page: skipped: ${result.skipped}`];
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
  const cpu = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : '-');
  const perWindowSec = result.durationMs / 1000;
  const rows = pageWindowKinds.map((kind) => {
    const kindWindows = result.windows.filter((window) => window.kind === kind);
    const chromium = kind === 'closed' ? Number.NaN : result.chromiumCpuSecMedians[kind];
    const updates = median(kindWindows.map((window) => window.updates));
    return [
      kind,
      formatCount(result.medians[kind]),
      result.opsPerSec[kind].map(formatCount).join(' '),
      kind === 'closed' ? '-' : percent(overheadOf(result.medians.closed, result.medians[kind])),
      cpu(chromium),
      Number.isFinite(chromium) ? percent(chromium / perWindowSec) : '-',
      cpu(result.raftchartCpuSecMedians[kind]),
      kind === 'open' ? (updates / perWindowSec).toFixed(1) : '-',
    ];
  });
  const header = ['page', 'ops/s', 'per window', 'lost', 'chromium cpu s', 'of a core', 'raftchart cpu s', 'updates/s'];
  return [
    '',
    `inspector page: ${result.cluster.nodes} servers, 100 B, fsync on, ${result.concurrency} clients, ${result.updatesPerSecond} updates/s at most (${result.updatesPerSecBusy} while busy); ` +
      `${result.reps} reps of closed / blank / open, interleaved, ${result.durationMs} ms each after ${result.warmupMs} ms warm-up and ${result.settleMs} ms for Chromium to settle`,
    ...formatTable(header, rows, 1),
    `overhead (1 − open/closed): ${percent(result.overhead)}; paired by repetition: ${percent(result.overheadPaired)}; ` +
      `the browser alone (1 − blank/closed): ${percent(result.browserOverhead)}; the page beyond it (1 − open/blank): ${percent(result.pageOverhead)}; ` +
      `load average ${result.loadAverage.atStart.join(' ')} → ${result.loadAverage.atEnd.join(' ')}`,
    `chromium: ${result.chromium.executable} (${result.chromium.version}), ${result.chromium.viewport.width}×${result.chromium.viewport.height}, profile in ${result.chromium.profileIn}, ` +
      `Playwright's default flags and ${result.chromium.flags.join(' ')}`,
    ...result.pageProblems.map((problem) => `warning: the page reported ${problem}`),
  ];
}
