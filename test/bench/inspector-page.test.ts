import { describe, expect, it } from 'vitest';
import { resultOf } from '../../bench/cluster-bench.ts';
import { parseClusterBenchArgs } from '../../bench/cluster-bench-options.ts';
import { chromiumUnavailable } from '../../bench/headless-chromium.ts';
import { formatInspectorPage, overheadOf, summarizePageWindows, windowOrder, type InspectorPageResult, type PageWindow, type PageWindowKind } from '../../bench/inspector-page.ts';

const machine = { cpus: 2, cpuModel: 'test', loadAverage: [1, 1, 1], node: 'v20', platform: 'linux x64', tempDir: '/tmp/x', fileSystem: 'ext4', device: '/dev/vda' };

function window(rep: number, kind: PageWindowKind, opsPerSec: number, chromiumCpuSec: number | null = kind === 'closed' ? null : 0.1): PageWindow {
  return { rep, kind, opsPerSec, chromiumCpuSec, raftchartCpuSec: 1.5, updates: kind === 'open' ? 4 : 0, retries: 0 };
}

/** Four repetitions: closed 100, 80, 90, 120 (median 95); blank 95, 97, 93, 99 (96); open 90, 85, 70, 88 (86.5). */
const windows = [
  [100, 95, 90],
  [80, 97, 85],
  [90, 93, 70],
  [120, 99, 88],
].flatMap(([closed, blank, open], i) => [window(i + 1, 'closed', closed), window(i + 1, 'blank', blank, 0.04 + i / 100), window(i + 1, 'open', open, 0.2 + i / 100)]);

describe('the inspector page benchmark', () => {
  it('counts the share of throughput lost: 1 − with / without', () => {
    expect(overheadOf(80_000, 72_000)).toBeCloseTo(0.1, 12);
    expect(overheadOf(50_000, 50_000)).toBe(0);
    expect(overheadOf(50_000, 55_000)).toBeCloseTo(-0.1, 12);
  });

  it('takes the median of each kind of window, and the overheads from the medians', () => {
    const summary = summarizePageWindows(windows);
    expect(summary.opsPerSec).toEqual({ closed: [100, 80, 90, 120], blank: [95, 97, 93, 99], open: [90, 85, 70, 88] });
    expect(summary.medians).toEqual({ closed: 95, blank: 96, open: 86.5 });
    expect(summary.overhead).toBeCloseTo(1 - 86.5 / 95, 12);
    // open / closed by repetition: 0.9, 1.0625, 0.7778, 0.7333; median 0.8389.
    expect(summary.overheadPaired).toBeCloseTo(1 - (0.9 + 70 / 90) / 2, 12);
    expect(summary.browserOverhead).toBeCloseTo(1 - 96 / 95, 12);
    expect(summary.pageOverhead).toBeCloseTo(1 - 86.5 / 96, 12);
    expect(summary.chromiumCpuSecMedians.blank).toBeCloseTo(0.055, 12);
    expect(summary.chromiumCpuSecMedians.open).toBeCloseTo(0.215, 12);
    expect(summary.raftchartCpuSecMedians).toEqual({ closed: 1.5, blank: 1.5, open: 1.5 });
  });

  it('interleaves the windows, each kind in each place as often over six repetitions, on average in the middle over four', () => {
    const place = (reps: number[], kind: PageWindowKind) => reps.map((rep) => windowOrder(rep).indexOf(kind));
    for (const kind of ['closed', 'blank', 'open'] as const) {
      expect(place([1, 2, 3, 4, 5, 6], kind).sort()).toEqual([0, 0, 1, 1, 2, 2]);
      expect(place([1, 2, 3, 4], kind).reduce((a, b) => a + b)).toBe(4);
    }
    const closedFirst = [1, 2, 3, 4, 5, 6].filter((rep) => windowOrder(rep).indexOf('closed') < windowOrder(rep).indexOf('open'));
    expect(closedFirst).toHaveLength(3);
    expect(windowOrder(7)).toEqual(windowOrder(1));
  });

  it('prints a table of the medians, each window, the share lost and Chromium CPU', () => {
    const page: InspectorPageResult = {
      updatesPerSecond: 2,
      updatesPerSecBusy: 1,
      concurrency: 1024,
      cluster: { nodes: 3, bytes: 100, fsync: true },
      reps: 4,
      durationMs: 2000,
      warmupMs: 500,
      settleMs: 2000,
      chromium: { executable: '/usr/bin/chromium', version: '156', flags: ['--no-sandbox'], viewport: { width: 1400, height: 1000 }, profileIn: '/dev/shm' },
      windows,
      ...summarizePageWindows(windows),
      loadAverage: { atStart: [1, 1, 1], atEnd: [2, 1, 1] },
      pageProblems: [],
    };
    const lines = formatInspectorPage(page);
    expect(lines.find((line) => line.startsWith('closed'))).toMatch(/^closed\s+95\s+100 80 90 120\s+-/);
    expect(lines.find((line) => line.startsWith('open'))).toMatch(/^open\s+87\s+90 85 70 88\s+8\.9%\s+0\.22\s+10\.8%\s+1\.50\s+2\.0$/);
    expect(lines).toContain('overhead (1 − open/closed): 8.9%; paired by repetition: 16.1%; the browser alone (1 − blank/closed): -1.1%; the page beyond it (1 − open/blank): 9.9%; load average 1 1 1 → 2 1 1');
  });

  it('adds issue #7 target to the result when it measured, and prints why when it skipped', () => {
    const options = parseClusterBenchArgs(['--quick', '--inspector-page'], 'r');
    const page = { ...summarizePageWindows(windows), windows } as unknown as InspectorPageResult;
    const measured = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options, machine, etcd: null, limits: null, results: [], inspectorPage: page });
    expect(measured.targets.at(-1)).toMatchObject({ name: 'inspector page overhead (1 − open/closed ops/s)', met: true });
    expect(measured.targets.at(-1)?.value).toBeCloseTo(0.0895, 3);
    const skipped = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options, machine, etcd: null, limits: null, results: [], inspectorPage: { skipped: '/usr/bin/chromium is missing' } });
    expect(skipped.targets.map((target) => target.name)).not.toContain('inspector page overhead (1 − open/closed ops/s)');
    expect(skipped.inspectorPage).toEqual({ skipped: '/usr/bin/chromium is missing' });
    expect(formatInspectorPage({ skipped: '/usr/bin/chromium is missing' })).toContain('inspector page: skipped: /usr/bin/chromium is missing');
  });

  it('says why it cannot run when Chromium is missing', async () => {
    expect(await chromiumUnavailable('/nowhere/chromium')).toBe("/nowhere/chromium is missing: install Debian's chromium (apt-get install -y chromium, as .ci/run does)");
  });
});
