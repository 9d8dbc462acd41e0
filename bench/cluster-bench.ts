import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadPlan, LoadWindow } from './closed-loop.ts';
import { formatBytes, formatCount, formatTable, loadAverageNow, machineInfo, median, resultFileName, writeResultFile, type MachineInfo } from './common.ts';
import { centerShape, type ClusterBenchOptions, type ClusterShape } from './cluster-bench-options.ts';
import { findEtcd } from './etcd-cluster.ts';
import { connectionsMax, etcdMembers, measureEtcd } from './etcd-load.ts';
import { formatInspectorPage, measureInspectorPage, pageWindowKinds, type InspectorPageResult, type InspectorPageSkipped } from './inspector-page.ts';
import { LatencyHistogram } from './latency-histogram.ts';
import { measureLimits, type MachineLimits } from './machine-limits.ts';
import { Progress } from './progress.ts';
import { measureRaftchart } from './raftchart-load.ts';
import { measureServe, type ProcessCpu } from './serve-load.ts';
import { renderChart, type ChartSeries } from './svg-chart.ts';
import { splitOf, type CpuSplit, type ThreadDelta } from './thread-split.ts';

/**
 * The cluster benchmark (issue #6): closed-loop clients against raftchart (LocalCluster, public
 * API only) and, when its binary is on PATH, etcd, at each concurrency; beside them the machine's
 * limits measured in the same run. Repetitions interleave the configurations (each repetition
 * starts fresh clusters) so a machine that slows down mid-run affects every configuration alike.
 * With --processes (issue #18) raftchart runs as `raftchart serve` processes instead, its clients
 * proposing over TCP through RaftClient (bench/serve-load.ts), against issue #18's targets.
 * Writes `<timestamp>.json`, `<timestamp>.svg` and `latest.svg` into the results folder.
 */

/** raftchart in this process (LocalCluster, a worker per server), raftchart as `serve` processes over TCP (--processes), or etcd. */
export type BenchSystem = 'raftchart' | 'raftchart-serve' | 'etcd';

/** A serve configuration's CPU per operation, in µs, by process. */
export interface ProcessSplit {
  /** This process: the closed-loop clients and their RaftClients. */
  readonly clientUsPerOp: number;
  readonly leaderUsPerOp: number;
  /** One follower, on average over the followers. */
  readonly followerUsPerOp: number;
}

/** One configuration, summed over its repetitions. */
export interface ConfigResult {
  readonly system: BenchSystem;
  readonly nodes: number;
  readonly concurrency: number;
  readonly bytes: number;
  readonly fsync: boolean;
  /** Committed (and applied) operations per second: the median over repetitions. */
  readonly opsPerSec: number;
  readonly opsPerSecMin: number;
  readonly opsPerSecMax: number;
  readonly opsPerSecByRep: readonly number[];
  /** Latency percentiles over every repetition's operations (one HDR histogram). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** CPU seconds (every thread of this process; for etcd and serve processes theirs too) per 1,000 operations. */
  readonly cpuSecPer1kOps: number;
  /** Largest resident memory sampled while measuring (raftchart: this process; etcd: its members; serve: its processes). */
  readonly peakRssMb: number;
  readonly repetitions: number;
  readonly ops: number;
  /** raftchart: proposals retried after NotLeader or Timeout; serve: proposals RaftClient gave up on (Timeout) and proposed again (warm-up included). */
  readonly retries: number;
  /** raftchart: CPU µs per operation on the main thread, one server's worker and the other threads, and GC pauses; null for etcd, serve or off Linux. */
  readonly cpuSplit: CpuSplit | null;
  /** serve only: terms begun during the windows (elections), summed over repetitions. */
  readonly elections?: number;
  /** serve only: CPU µs per operation by process; null when a window could not tell the leader. */
  readonly processSplit?: ProcessSplit | null;
}

export interface Target {
  readonly name: string;
  readonly goal: string;
  /** null when what it compares was not measured in this run. */
  readonly value: number | null;
  readonly met: boolean | null;
}

export interface ClusterBenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly quick: boolean;
  readonly matrix: {
    readonly shapes: readonly ClusterShape[];
    readonly concurrency: readonly number[];
    readonly durationMs: number;
    readonly warmupMs: number;
    readonly reps: number;
    /** The etcd binary, or null when etcd did not run. */
    readonly etcd: string | null;
    readonly etcdMembers: number;
    readonly etcdConnections: number;
  };
  readonly machine: MachineInfo & { readonly loadAverageAtEnd: readonly number[] };
  readonly limits: MachineLimits | null;
  readonly results: readonly ConfigResult[];
  /** raftchart, 3 servers, 100 B, fsync on, at its best concurrency. */
  readonly best: ConfigResult | null;
  /** etcd, 100 B, at its best concurrency. */
  readonly etcdBest: ConfigResult | null;
  /** best.opsPerSec / etcdBest.opsPerSec; null without etcd. */
  readonly ratioVsEtcd: number | null;
  readonly targets: readonly Target[];
  /** With --inspector-page: what the inspector page costs a loaded cluster; null without. */
  readonly inspectorPage: InspectorPageResult | InspectorPageSkipped | null;
  /** With --processes: the serve processes against etcd; null without. */
  readonly serve: ServeSummary | null;
}

/** --processes: serve processes (3 servers, 100 B, fsync on) against etcd (100 B). */
export interface ServeSummary {
  readonly raftClients: number;
  /** At its best concurrency. */
  readonly best: ConfigResult | null;
  /** best.opsPerSec / etcdBest.opsPerSec; null without etcd. */
  readonly ratioVsEtcd: number | null;
  /** Both at one client: serve ops/s over etcd ops/s; null when either was not measured. */
  readonly oneClientRatioVsEtcd: number | null;
}

/** Time the limit probes take, each. */
const limitProbeMs = { quick: 1000, full: 2000 };

/** Runs the benchmark, prints progress (stderr) and the table (`print`), writes the files; returns the result. */
export async function runClusterBench(options: ClusterBenchOptions, print: (line: string) => void): Promise<ClusterBenchResult> {
  const startedAt = new Date().toISOString();
  const root = await mkdtemp(join(options.dir ?? tmpdir(), 'raftchart-bench-'));
  const etcd = options.etcd === 'off' ? null : findEtcd();
  const running = new Set<{ stop(): Promise<void> }>();
  const onInterrupt = () => {
    process.stderr.write('\ninterrupted: stopping etcd members and serve processes, removing temporary folders\n');
    void Promise.all([...running].map((cluster) => cluster.stop()))
      .then(() => rm(root, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  try {
    const machine = await machineInfo(root);
    print(describeRun(options, machine, etcd));
    if (machine.fileSystem === 'tmpfs') print('warning: tmpfs does not reach a disk; pass --dir on the disk to measure');
    const etcdRuns = etcd === null ? [] : [...new Set(options.shapes.map((shape) => shape.bytes))].map((bytes) => ({ etcd, bytes, parentDir: root }));
    const pageWindows = options.inspectorPage === null ? 0 : options.inspectorPage.reps * pageWindowKinds.length;
    const progress = new Progress((options.limits ? 1 : 0) + options.reps * (options.shapes.length + etcdRuns.length) * options.concurrency.length + pageWindows);
    let limits: MachineLimits | null = null;
    if (options.limits) {
      progress.start('machine limits: raw append + fdatasync, worker postMessage');
      limits = await measureLimits(root, centerShape.bytes, options.quick ? limitProbeMs.quick : limitProbeMs.full);
      progress.step();
    }
    const windows = new Map<string, RepWindow[]>();
    const keep = (key: ConfigKey, window: RepWindow) => windows.set(JSON.stringify(key), [...(windows.get(JSON.stringify(key)) ?? []), window]);
    const plans: LoadPlan[] = options.concurrency.map((concurrency) => ({ concurrency, warmupMs: options.warmupMs, durationMs: options.durationMs }));
    // Announces each window as it begins and keeps it once it ends: plans run in order.
    const recorder = (rep: number, key: (concurrency: number) => ConfigKey) => {
      let next = 0;
      const announce = () => progress.start(`rep ${rep}/${options.reps}: ${describeConfig(key(plans[next].concurrency))}`);
      announce();
      return (window: RepWindow) => {
        keep(key(plans[next].concurrency), window);
        progress.step();
        if (++next < plans.length) announce();
      };
    };
    for (let rep = 1; rep <= options.reps; rep++) {
      for (const shape of options.shapes) {
        if (options.processes) {
          const record = recorder(rep, (concurrency) => ({ system: 'raftchart-serve', ...shape, concurrency }));
          await measureServe({ ...shape, parentDir: root, raftClients: options.raftClients }, plans, record, (cluster) => running.add(cluster));
          continue;
        }
        const record = recorder(rep, (concurrency) => ({ system: 'raftchart', ...shape, concurrency }));
        await measureRaftchart({ ...shape, parentDir: root }, plans, record);
      }
      for (const run of etcdRuns) {
        const record = recorder(rep, (concurrency) => ({ system: 'etcd', nodes: etcdMembers, bytes: run.bytes, fsync: true, concurrency }));
        await measureEtcd(run, plans, (window) => record({ ...window, retries: 0 }), (cluster) => running.add(cluster));
      }
    }
    let inspectorPage: InspectorPageResult | InspectorPageSkipped | null = null;
    if (options.inspectorPage !== null) {
      const plan = options.inspectorPage;
      inspectorPage = await measureInspectorPage(plan, { parentDir: root, durationMs: options.durationMs, warmupMs: options.warmupMs, quick: options.quick }, {
        begin: (rep, kind) => progress.start(`inspector page, rep ${rep}/${plan.reps}: ${kind}, ${count(plan.concurrency, 'client')}, ${plan.updatesPerSecond}:${plan.updatesPerSecBusy} updates/s`),
        end: () => progress.step(),
      });
    }
    progress.finish();
    const results = [...windows].map(([key, reps]) => summarize(JSON.parse(key) as ConfigKey, reps));
    const result = resultOf({ startedAt, options, machine, etcd, limits, results, inspectorPage });
    for (const line of formatResult(result)) print(line);
    await writeFiles(result, options.resultsDir, print);
    return result;
  } finally {
    process.off('SIGINT', onInterrupt);
    await Promise.all([...running].map((cluster) => cluster.stop()));
    await rm(root, { recursive: true, force: true });
  }
}

type ConfigKey = Pick<ConfigResult, 'system' | 'nodes' | 'bytes' | 'fsync' | 'concurrency'>;
type RepWindow = LoadWindow & { readonly retries: number; readonly threads?: ThreadDelta | null; readonly elections?: number; readonly processes?: ProcessCpu | null };

/** One configuration's repetitions → its figures. */
export function summarize(key: ConfigKey, reps: readonly RepWindow[]): ConfigResult {
  const latencies = new LatencyHistogram();
  for (const rep of reps) latencies.add(rep.latencies);
  const summary = latencies.summary();
  const opsPerSecByRep = reps.map((rep) => (rep.ops / rep.ms) * 1000);
  const ops = reps.reduce((sum, rep) => sum + rep.ops, 0);
  const cpuMicros = reps.reduce((sum, rep) => sum + rep.cpuMicros, 0);
  return {
    ...key,
    opsPerSec: median(opsPerSecByRep),
    opsPerSecMin: Math.min(...opsPerSecByRep),
    opsPerSecMax: Math.max(...opsPerSecByRep),
    opsPerSecByRep,
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    p999Ms: summary.p999Ms,
    minMs: summary.minMs,
    maxMs: summary.maxMs,
    cpuSecPer1kOps: ops === 0 ? Number.NaN : cpuMicros / 1e6 / (ops / 1000),
    peakRssMb: Math.max(...reps.map((rep) => rep.peakRssBytes)) / 1024 ** 2,
    repetitions: reps.length,
    ops,
    retries: reps.reduce((sum, rep) => sum + rep.retries, 0),
    cpuSplit: key.system === 'raftchart' ? splitOf(reps.map((rep) => rep.threads), ops) : null,
    ...(key.system === 'raftchart-serve'
      ? { elections: reps.reduce((sum, rep) => sum + (rep.elections ?? 0), 0), processSplit: processSplitOf(reps.map((rep) => rep.processes), ops) }
      : {}),
  };
}

/** Per operation over windows that together completed `ops`; null when any window could not tell its leader or nothing completed. */
export function processSplitOf(windows: readonly (ProcessCpu | null | undefined)[], ops: number): ProcessSplit | null {
  if (ops === 0 || windows.length === 0 || windows.some((window) => window === null || window === undefined)) return null;
  const all = windows as readonly ProcessCpu[];
  const total = (pick: (window: ProcessCpu) => number) => all.reduce((sum, window) => sum + pick(window), 0);
  return {
    clientUsPerOp: total((w) => w.clientMicros) / ops,
    leaderUsPerOp: total((w) => w.leaderMicros) / ops,
    followerUsPerOp: total((w) => w.followersMicros / w.followers) / ops,
  };
}

/** The issues' targets (#6, and #7 for the inspector page); reported, never asserted. */
const targetGoals = {
  bestOpsPerSecMin: 100_000,
  ratioVsEtcdMin: 10,
  concurrency1P50MsMax: 0.4,
  concurrency1P99MsMax: 1.5,
  fsyncOnShareOfOffMin: 0.8,
  fiveServersShareOfThreeMin: 0.6,
  /** Issue #7: a loaded cluster loses at most 10% of its throughput with the inspector page open. */
  inspectorPageOverheadMax: 0.1,
  /** Issue #18: serve processes over TCP, at their best concurrency, over etcd at its best. */
  serveRatioVsEtcdMin: 5,
  /** Issue #18: serve processes at one client over etcd at one client. */
  serveOneClientRatioVsEtcdMin: 1,
} as const;

/** The JSON's top-level figures from the configurations' results. */
export function resultOf(run: {
  startedAt: string;
  options: ClusterBenchOptions;
  machine: MachineInfo;
  etcd: string | null;
  limits: MachineLimits | null;
  results: readonly ConfigResult[];
  inspectorPage?: InspectorPageResult | InspectorPageSkipped | null;
}): ClusterBenchResult {
  const results = [...run.results].sort(compareConfigs);
  const bestOf = (system: ConfigResult['system'], shape: ClusterShape) =>
    results
      .filter((r) => r.system === system && r.nodes === shape.nodes && r.bytes === shape.bytes && r.fsync === shape.fsync)
      .reduce<ConfigResult | null>((best, r) => (best === null || r.opsPerSec > best.opsPerSec ? r : best), null);
  const best = bestOf('raftchart', centerShape);
  const etcdBest = bestOf('etcd', { ...centerShape, nodes: etcdMembers });
  const ratioVsEtcd = best !== null && etcdBest !== null ? best.opsPerSec / etcdBest.opsPerSec : null;
  const single = results.find((r) => r.system === 'raftchart' && r.nodes === centerShape.nodes && r.bytes === centerShape.bytes && r.fsync && r.concurrency === 1) ?? null;
  const fsyncOff = bestOf('raftchart', { ...centerShape, fsync: false });
  const five = bestOf('raftchart', { ...centerShape, nodes: 5 });
  const share = (a: ConfigResult | null, b: ConfigResult | null) => (a !== null && b !== null ? a.opsPerSec / b.opsPerSec : null);
  const atLeast = (value: number | null, goal: number) => (value === null ? null : value >= goal);
  const atMost = (value: number | null, goal: number) => (value === null ? null : value <= goal);
  const serve = run.options.processes ? serveSummaryOf(results, run.options.raftClients) : null;
  const targets: Target[] = serve !== null ? serveTargetsOf(serve) : [
    { name: 'best ops/s (3 servers, 100 B, fsync on)', goal: `≥ ${targetGoals.bestOpsPerSecMin}`, value: best?.opsPerSec ?? null, met: atLeast(best?.opsPerSec ?? null, targetGoals.bestOpsPerSecMin) },
    { name: 'best over etcd best', goal: `≥ ${targetGoals.ratioVsEtcdMin}×`, value: ratioVsEtcd, met: atLeast(ratioVsEtcd, targetGoals.ratioVsEtcdMin) },
    { name: 'concurrency 1 p50 ms', goal: `≤ ${targetGoals.concurrency1P50MsMax}`, value: single?.p50Ms ?? null, met: atMost(single?.p50Ms ?? null, targetGoals.concurrency1P50MsMax) },
    { name: 'concurrency 1 p99 ms', goal: `≤ ${targetGoals.concurrency1P99MsMax}`, value: single?.p99Ms ?? null, met: atMost(single?.p99Ms ?? null, targetGoals.concurrency1P99MsMax) },
    { name: 'fsync on over fsync off (best ops/s)', goal: `≥ ${targetGoals.fsyncOnShareOfOffMin}`, value: share(best, fsyncOff), met: atLeast(share(best, fsyncOff), targetGoals.fsyncOnShareOfOffMin) },
    { name: '5 servers over 3 servers (best ops/s)', goal: `≥ ${targetGoals.fiveServersShareOfThreeMin}`, value: share(five, best), met: atLeast(share(five, best), targetGoals.fiveServersShareOfThreeMin) },
  ];
  const page = run.inspectorPage ?? null;
  if (page !== null && !('skipped' in page)) {
    targets.push({ name: 'inspector page overhead (1 − open/closed ops/s)', goal: `≤ ${targetGoals.inspectorPageOverheadMax}`, value: page.overhead, met: atMost(page.overhead, targetGoals.inspectorPageOverheadMax) });
  }
  return {
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    quick: run.options.quick,
    matrix: {
      shapes: run.options.shapes,
      concurrency: run.options.concurrency,
      durationMs: run.options.durationMs,
      warmupMs: run.options.warmupMs,
      reps: run.options.reps,
      etcd: run.etcd,
      etcdMembers,
      etcdConnections: connectionsMax,
    },
    machine: { ...run.machine, loadAverageAtEnd: loadAverageNow() },
    limits: run.limits,
    results,
    best,
    etcdBest,
    ratioVsEtcd,
    targets,
    inspectorPage: run.inspectorPage ?? null,
    serve,
  };
}

/** The serve processes (3 servers, 100 B, fsync on) against etcd (100 B): at each one's best concurrency, and both at one client. */
export function serveSummaryOf(results: readonly ConfigResult[], raftClients: number): ServeSummary {
  const center = (r: ConfigResult) => r.nodes === centerShape.nodes && r.bytes === centerShape.bytes && r.fsync === centerShape.fsync;
  const of = (system: BenchSystem) => results.filter((r) => r.system === system && center(r));
  const bestOf = (rows: readonly ConfigResult[]) => rows.reduce<ConfigResult | null>((best, r) => (best === null || r.opsPerSec > best.opsPerSec ? r : best), null);
  const best = bestOf(of('raftchart-serve'));
  const etcdBest = bestOf(of('etcd'));
  const serveOne = of('raftchart-serve').find((r) => r.concurrency === 1);
  const etcdOne = of('etcd').find((r) => r.concurrency === 1);
  return {
    raftClients,
    best,
    ratioVsEtcd: best !== null && etcdBest !== null ? best.opsPerSec / etcdBest.opsPerSec : null,
    oneClientRatioVsEtcd: serveOne !== undefined && etcdOne !== undefined ? serveOne.opsPerSec / etcdOne.opsPerSec : null,
  };
}

/** Issue #18's targets: ≥ 5× etcd's best ops/s, and at one client at least etcd's ops/s. */
export function serveTargetsOf(serve: ServeSummary): Target[] {
  const atLeast = (value: number | null, goal: number) => (value === null ? null : value >= goal);
  return [
    { name: 'serve processes best over etcd best (3 servers, 100 B, fsync on)', goal: `≥ ${targetGoals.serveRatioVsEtcdMin}×`, value: serve.ratioVsEtcd, met: atLeast(serve.ratioVsEtcd, targetGoals.serveRatioVsEtcdMin) },
    { name: 'serve processes at 1 client over etcd at 1 client', goal: `≥ ${targetGoals.serveOneClientRatioVsEtcdMin}×`, value: serve.oneClientRatioVsEtcd, met: atLeast(serve.oneClientRatioVsEtcd, targetGoals.serveOneClientRatioVsEtcdMin) },
  ];
}

/** raftchart, then serve processes, then etcd; then servers, size, fsync on first, concurrency. */
function compareConfigs(a: ConfigResult, b: ConfigResult): number {
  const systemOrder = (r: ConfigResult) => ['raftchart', 'raftchart-serve', 'etcd'].indexOf(r.system);
  return systemOrder(a) - systemOrder(b) || a.nodes - b.nodes || a.bytes - b.bytes || Number(b.fsync) - Number(a.fsync) || a.concurrency - b.concurrency;
}

function describeRun(options: ClusterBenchOptions, machine: MachineInfo, etcd: string | null): string {
  const shapes = options.shapes.map((shape) => `${count(shape.nodes, 'server')} ${formatBytes(shape.bytes)} fsync ${shape.fsync ? 'on' : 'off'}`).join('; ');
  const where = options.processes ? ` as serve processes over TCP (${count(options.raftClients, 'RaftClient')})` : '';
  return (
    `cluster benchmark${options.quick ? ' (quick)' : ''}: ${shapes}${where}; concurrency ${options.concurrency.join(', ')}; ` +
    `${options.reps} rep(s) of ${options.durationMs} ms after ${options.warmupMs} ms warm-up\n` +
    `machine: ${machine.cpus} × ${machine.cpuModel}, load ${machine.loadAverage.join(' ')}, node ${machine.node}, ` +
    `temp ${machine.tempDir} (${machine.fileSystem} on ${machine.device})\n` +
    `etcd: ${etcd === null ? (options.etcd === 'off' ? 'skipped (--no-etcd)' : 'not on PATH, skipped (npm run bench:etcd installs it)') : etcd}`
  );
}

/** "2.7·3.5·5.9 (1.5·0.9)": µs per operation on the main thread, one worker, the rest; their GC pauses in brackets. */
function formatSplit(split: CpuSplit | null): string {
  if (split === null) return '-';
  const us = (value: number) => value.toFixed(1);
  return `${us(split.mainUsPerOp)}·${us(split.workerUsPerOp)}·${us(split.otherUsPerOp)} (${us(split.mainGcUsPerOp)}·${us(split.workerGcUsPerOp)})`;
}

function describeConfig(key: ConfigKey): string {
  const servers = count(key.nodes, key.system === 'etcd' ? 'member' : key.system === 'raftchart-serve' ? 'process' : 'server');
  return `${key.system} ${servers}, ${formatBytes(key.bytes)}, fsync ${key.fsync ? 'on' : 'off'}, ${count(key.concurrency, 'client')}`;
}

/** The table, the limits and the targets, as printed at the end of a run (and pasted into the README). */
function formatResult(result: ClusterBenchResult): string[] {
  const header = ['system', 'servers', 'bytes', 'fsync', 'clients', 'ops/s', 'min-max', 'p50 ms', 'p99 ms', 'p99.9 ms', 'cpu s/1k ops', 'µs/op main·worker·other (gc)', 'peak RSS MB', 'retries'];
  const rows = result.results.map((r) => [
    r.system,
    String(r.nodes),
    formatBytes(r.bytes),
    r.fsync ? 'on' : 'off',
    String(r.concurrency),
    formatCount(r.opsPerSec),
    `${formatCount(r.opsPerSecMin)}-${formatCount(r.opsPerSecMax)}`,
    formatMs(r.p50Ms),
    formatMs(r.p99Ms),
    formatMs(r.p999Ms),
    r.cpuSecPer1kOps.toFixed(2),
    formatSplit(r.cpuSplit),
    r.peakRssMb.toFixed(0),
    String(r.retries),
  ]);
  const lines = ['', ...formatTable(header, rows, 4), '', ...formatServeTable(result.results)];
  if (result.limits !== null) {
    const { disk, postMessage } = result.limits;
    lines.push(
      `limits: raw append + fdatasync (${formatBytes(disk.bytes)}, one at a time) ${formatCount(disk.syncsPerSec)}/s, p50 ${formatMs(disk.p50Ms)} ms, p99 ${formatMs(disk.p99Ms)} ms; ` +
        `worker postMessage ${formatCount(postMessage.unbatchedPerSec)} msgs/s unbatched, ${formatCount(postMessage.batchedPerSec)} msgs/s in arrays of ${postMessage.batchSize}`,
    );
  }
  lines.push(`load average at start ${result.machine.loadAverage.join(' ')}, at end ${result.machine.loadAverageAtEnd.join(' ')}`);
  for (const target of result.targets) {
    const verdict = target.met === null ? 'not measured' : target.met ? 'met' : 'missed';
    const value = target.value === null ? '-' : Number(target.value.toPrecision(3)).toLocaleString('en-US');
    lines.push(`target: ${target.name} ${target.goal}: ${value} (${verdict})`);
  }
  if (result.inspectorPage !== null) lines.push(...formatInspectorPage(result.inspectorPage));
  return lines;
}

/** With serve processes: where their CPU went (µs per operation by process) and the elections seen, then a blank line. */
function formatServeTable(results: readonly ConfigResult[]): string[] {
  const serve = results.filter((r) => r.system === 'raftchart-serve');
  if (serve.length === 0) return [];
  const us = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(1));
  const header = ['serve', 'bytes', 'fsync', 'clients', 'µs/op client', 'leader', 'follower', 'elections'];
  const rows = serve.map((r) => [
    count(r.nodes, 'process'),
    formatBytes(r.bytes),
    r.fsync ? 'on' : 'off',
    String(r.concurrency),
    us(r.processSplit?.clientUsPerOp),
    us(r.processSplit?.leaderUsPerOp),
    us(r.processSplit?.followerUsPerOp),
    String(r.elections ?? 0),
  ]);
  return [...formatTable(header, rows, 3), ''];
}

/** The chart's lines: one per system and cluster shape. */
function chartSeries(results: readonly ConfigResult[]): ChartSeries[] {
  const series = new Map<string, ChartSeries & { points: ChartSeries['points'][number][] }>();
  for (const r of results) {
    const label =
      r.system === 'etcd'
        ? `etcd, ${count(r.nodes, 'member')}, ${formatBytes(r.bytes)}`
        : r.system === 'raftchart-serve'
          ? `raftchart serve, ${count(r.nodes, 'process')}, ${formatBytes(r.bytes)}, fsync ${r.fsync ? 'on' : 'off'}`
          : `raftchart, ${count(r.nodes, 'server')}, ${formatBytes(r.bytes)}, fsync ${r.fsync ? 'on' : 'off'}`;
    const line = series.get(label) ?? { label, points: [] };
    line.points.push({ concurrency: r.concurrency, opsPerSec: r.opsPerSec, p99Ms: r.p99Ms });
    series.set(label, line);
  }
  return [...series.values()];
}

async function writeFiles(result: ClusterBenchResult, resultsDir: string, print: (line: string) => void): Promise<void> {
  const name = resultFileName('', result.startedAt);
  const json = await writeResultFile(resultsDir, name, result);
  const svg = json.replace(/\.json$/, '.svg');
  const title = `raftchart${result.etcdBest === null ? '' : ' vs etcd'}: ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${result.machine.cpus} cpus, load ${result.machine.loadAverage[0]}`;
  await writeFile(svg, renderChart(title, chartSeries(result.results)));
  await copyFile(svg, join(resultsDir, 'latest.svg'));
  print(`wrote ${json}, ${svg} and ${join(resultsDir, 'latest.svg')}`);
}

/** "1 server", "3 servers", "3 processes". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : noun.endsWith('s') ? 'es' : 's'}`;
}

function formatMs(value: number): string {
  return Number.isFinite(value) ? value.toFixed(value < 10 ? 2 : 1) : '-';
}
