import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDurableLog } from '../src/io/durable-log-host.ts';
import { RealFileSystem } from '../src/io/real-file-system.ts';
import { openWal } from '../src/io/wal.ts';
import type { LogStorage } from '../src/protocol/storage.ts';
import type { Entry } from '../src/protocol/types.ts';
import {
  commandOf,
  cpuMicrosSince,
  fileSystemName,
  formatBytes,
  formatCount,
  formatTable,
  LatencySamples,
  quantile,
  rawAppendSyncRound,
  resultFileName,
  type Round,
  writeResultFile,
} from './common.ts';

/**
 * The durable log's throughput and latency on the real disk: appenders → durable-log chart →
 * storage actors → Wal → fdatasync, beside a raw append + fdatasync loop (node:fs) on the same
 * disk in the same run. Rounds are interleaved (raw, then each appender count, round after round)
 * so a disk that speeds up or slows down during the run affects both sides alike.
 *
 * An appender is closed-loop: it appends one record (one entry of `recordBytes`), waits for the
 * `log.synced` that covers it, and appends the next at once. So N appenders keep at most N records
 * in flight, and group commit is all that lets N > 1 beat one fdatasync per record.
 */

export interface LogBenchOptions {
  /** Fewer, shorter rounds: a smoke run of a few seconds. */
  readonly quick: boolean;
  /** Where the temporary logs go; it must be on the disk to measure (not tmpfs). Default: os.tmpdir(). */
  readonly parentDir?: string;
  /** Where the JSON result goes. */
  readonly resultsDir: string;
  readonly print: (line: string) => void;
}

const recordBytesMeasured = [100, 4096] as const;
const appenderCounts = [1, 16, 256] as const;

/** The targets the run is reported against (never asserted). */
export const targets = {
  /** Durable records/s with 256 appenders of 100 B records. */
  recordsPerSecondMinAt256x100: 200_000,
  /** One appender's mean latency over the raw append + fdatasync loop's. */
  singleAppenderLatencyRatioMax: 1.5,
};

/** What one measured configuration did, summed over its rounds. */
export interface Measurement {
  /** raw: the node:fs loop; chart: the durable log on the Wal; ceiling: the durable log on a storage that does no I/O. */
  readonly kind: 'raw' | 'chart' | 'ceiling';
  readonly recordBytes: number;
  /** 1 for the raw loop. */
  readonly appenders: number;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
  /** fdatasyncs issued (one per batch for the chart). */
  readonly syncs: number;
  readonly recordsPerSync: number;
  readonly latencyMsMean: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  /** This process's CPU time (user + system, every thread) per record: the chart's and the WAL's cost, disk waits excluded. */
  readonly cpuMicrosPerRecord: number;
}

export interface LogBenchResult {
  readonly startedAt: string;
  readonly node: string;
  readonly cpu: string;
  readonly cpuCount: number;
  readonly dir: string;
  readonly fileSystem: string;
  readonly quick: boolean;
  readonly rounds: number;
  readonly roundMs: number;
  readonly measurements: readonly Measurement[];
  readonly targets: typeof targets & {
    readonly recordsPerSecondAt256x100: number;
    /** One appender's median latency over the raw loop's (100 B); medians, because a shared disk's stalls swamp means. */
    readonly singleAppenderLatencyRatio: number;
    readonly singleAppenderLatencyRatioOfMeans: number;
  };
}

/** Runs every configuration, prints the table and writes the JSON; returns the result. */
export async function runLogBench(options: LogBenchOptions): Promise<LogBenchResult> {
  const startedAt = new Date().toISOString();
  const rounds = options.quick ? 1 : 3;
  const roundMs = options.quick ? 400 : 1800;
  const root = await mkdtemp(join(options.parentDir ?? tmpdir(), 'raftchart-log-bench-'));
  try {
    const fileSystem = await fileSystemName(root);
    options.print(`durable-log benchmark: ${root} (${fileSystem}), fsync on, ${rounds} round(s) of ${roundMs} ms per configuration`);
    if (fileSystem === 'tmpfs') options.print('warning: tmpfs does not reach a disk; pass --dir on the disk to measure');
    let folder = 0;
    const nextDir = () => join(root, String(folder++));
    // Warm the JIT and the file system's allocator once, unmeasured.
    await chartRound(await openWalStorage(nextDir()), 100, 16, Math.min(roundMs, 400));
    const sums = new Map<string, Round[]>();
    const keep = (key: string, round: Round) => sums.set(key, [...(sums.get(key) ?? []), round]);
    for (let round = 0; round < rounds; round++) {
      for (const recordBytes of recordBytesMeasured) {
        keep(`raw/${recordBytes}/1`, await rawAppendSyncRound(nextDir(), recordBytes, roundMs));
        for (const appenders of appenderCounts) {
          keep(`chart/${recordBytes}/${appenders}`, await chartRound(await openWalStorage(nextDir()), recordBytes, appenders, roundMs));
        }
      }
      keep('ceiling/100/256', await chartRound(noStorage(), 100, 256, roundMs));
    }
    const measurements = [...sums].map(([key, list]) => summarize(key, list));
    const result = resultOf(measurements, { startedAt, root, fileSystem, quick: options.quick, rounds, roundMs });
    printResult(result, options.print);
    const file = await writeResultFile(options.resultsDir, resultFileName('log-', result.startedAt), result);
    options.print(`wrote ${file}`);
    return result;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A storage and what to do once the round is over. */
interface BenchStorage {
  readonly storage: LogStorage;
  readonly dispose: () => Promise<void>;
}

/** A Wal, fsync on, in a fresh folder `dir`, removed afterwards. */
async function openWalStorage(dir: string): Promise<BenchStorage> {
  const { wal } = await openWal(new RealFileSystem(), dir);
  return {
    storage: wal,
    dispose: async () => {
      await wal.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A storage that keeps nothing and answers on the next turn of the event loop, as a disk would:
 * what the chart, the storage actors and the appenders cost on their own, the ceiling of the chart.
 */
function noStorage(): BenchStorage {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { storage: { write: nextTurn, sync: nextTurn, rewrite: nextTurn, installSnapshot: nextTurn, close: nextTurn }, dispose: async () => undefined };
}

/** `appenders` closed-loop appenders through the durable-log chart over `bench`'s storage, for `durationMs`. */
async function chartRound(bench: BenchStorage, recordBytes: number, appenders: number, durationMs: number): Promise<Round> {
  const log = startDurableLog(bench.storage);
  const command = commandOf(recordBytes);
  const latencies = new LatencySamples();
  // Requests in flight, oldest first: log.synced covers a prefix of them (seqs are confirmed in order).
  const sentSeqs: number[] = [];
  const sentAts: number[] = [];
  let head = 0;
  let seq = 0;
  let records = 0;
  let syncs = 0;
  let start = 0;
  let stopAt = 0;
  let end = 0;
  const append = (now: number) => {
    seq++;
    const entry: Entry = { index: seq, term: 1, kind: 'command', command };
    sentSeqs.push(seq);
    sentAts.push(now);
    log.send({ type: 'log.append', seq, entries: [entry] });
  };
  const finished = new Promise<void>((resolve, reject) => {
    log.on('log.failed', ({ failure }) => reject(new Error(`the durable log failed: ${failure.code} ${failure.message}`)));
    log.on('log.synced', ({ position }) => {
      syncs++;
      const now = performance.now();
      let released = 0;
      while (head < sentSeqs.length && sentSeqs[head] <= position.seq) {
        latencies.add(now - sentAts[head]);
        head++;
        released++;
      }
      records += released;
      // Each appender whose record is durable appends its next one at once, until time is up.
      if (now < stopAt) {
        for (let i = 0; i < released; i++) append(now);
      } else if (head === sentSeqs.length) {
        end = now;
        resolve();
      }
      if (head > 65_536) {
        sentSeqs.splice(0, head);
        sentAts.splice(0, head);
        head = 0;
      }
    });
  });
  const cpuAtStart = process.cpuUsage();
  start = performance.now();
  stopAt = start + durationMs;
  for (let i = 0; i < appenders; i++) append(start);
  let cpuMicros = 0;
  try {
    await finished;
    cpuMicros = cpuMicrosSince(cpuAtStart);
  } finally {
    log.stop();
    await bench.dispose();
  }
  return { records, ms: end - start, syncs, cpuMicros, latencies: latencies.values() };
}

function summarize(key: string, rounds: readonly Round[]): Measurement {
  const [kind, bytes, count] = key.split('/');
  const recordBytes = Number(bytes);
  const records = rounds.reduce((sum, round) => sum + round.records, 0);
  const seconds = rounds.reduce((sum, round) => sum + round.ms, 0) / 1000;
  const syncs = rounds.reduce((sum, round) => sum + round.syncs, 0);
  const cpuMicros = rounds.reduce((sum, round) => sum + round.cpuMicros, 0);
  const latencies = concatenate(rounds.map((round) => round.latencies)).sort();
  const mean = latencies.reduce((sum, ms) => sum + ms, 0) / Math.max(1, latencies.length);
  return {
    kind: kind as Measurement['kind'],
    recordBytes,
    appenders: Number(count),
    records,
    seconds,
    recordsPerSecond: records / seconds,
    megabytesPerSecond: (records * recordBytes) / seconds / 1e6,
    syncs,
    recordsPerSync: records / Math.max(1, syncs),
    latencyMsMean: mean,
    latencyMsP50: quantile(latencies, 0.5),
    latencyMsP99: quantile(latencies, 0.99),
    cpuMicrosPerRecord: cpuMicros / Math.max(1, records),
  };
}

/** `arrays` end to end in one new array: no boxed numbers, however many samples. */
function concatenate(arrays: readonly Float64Array[]): Float64Array {
  const joined = new Float64Array(arrays.reduce((sum, array) => sum + array.length, 0));
  let offset = 0;
  for (const array of arrays) {
    joined.set(array, offset);
    offset += array.length;
  }
  return joined;
}

function resultOf(
  measurements: readonly Measurement[],
  run: { startedAt: string; root: string; fileSystem: string; quick: boolean; rounds: number; roundMs: number },
): LogBenchResult {
  const find = (kind: Measurement['kind'], recordBytes: number, appenders: number) =>
    measurements.find((m) => m.kind === kind && m.recordBytes === recordBytes && m.appenders === appenders);
  const raw100 = find('raw', 100, 1);
  const single100 = find('chart', 100, 1);
  return {
    startedAt: run.startedAt,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpuCount: cpus().length,
    dir: run.root,
    fileSystem: run.fileSystem,
    quick: run.quick,
    rounds: run.rounds,
    roundMs: run.roundMs,
    measurements,
    targets: {
      ...targets,
      recordsPerSecondAt256x100: find('chart', 100, 256)?.recordsPerSecond ?? Number.NaN,
      singleAppenderLatencyRatio: (single100?.latencyMsP50 ?? Number.NaN) / (raw100?.latencyMsP50 ?? Number.NaN),
      singleAppenderLatencyRatioOfMeans: (single100?.latencyMsMean ?? Number.NaN) / (raw100?.latencyMsMean ?? Number.NaN),
    },
  };
}

function printResult(result: LogBenchResult, print: (line: string) => void): void {
  const header = ['record', 'appenders', 'records/s', 'MB/s', 'rec/sync', 'lat mean', 'lat p50', 'lat p99', 'cpu/rec', 'vs raw rec/s', 'vs raw lat p50'];
  const rows: string[][] = [];
  for (const recordBytes of recordBytesMeasured) {
    const raw = result.measurements.find((m) => m.kind === 'raw' && m.recordBytes === recordBytes);
    for (const m of result.measurements.filter((m) => m.recordBytes === recordBytes && m.kind !== 'ceiling')) rows.push(rowOf(m, raw));
  }
  for (const m of result.measurements.filter((m) => m.kind === 'ceiling')) rows.push(rowOf(m, undefined));
  print('');
  for (const line of formatTable(header, rows, 2)) print(line);
  print('');
  const at256 = result.targets.recordsPerSecondAt256x100;
  const ratio = result.targets.singleAppenderLatencyRatio;
  print(
    `target: 256 appenders × 100 B ≥ ${targets.recordsPerSecondMinAt256x100.toLocaleString('en-US')} records/s: ` +
      `${formatCount(at256)} (${at256 >= targets.recordsPerSecondMinAt256x100 ? 'met' : 'missed'})`,
  );
  print(
    `target: 1 appender's latency ≤ ${targets.singleAppenderLatencyRatioMax}× the raw loop's (100 B, medians): ` +
      `${ratio.toFixed(2)}× (${ratio <= targets.singleAppenderLatencyRatioMax ? 'met' : 'missed'}; ` +
      `means: ${result.targets.singleAppenderLatencyRatioOfMeans.toFixed(2)}×)`,
  );
}

function rowOf(m: Measurement, raw: Measurement | undefined): string[] {
  const appenders = { raw: 'raw loop', chart: String(m.appenders), ceiling: `${m.appenders}, no I/O` }[m.kind];
  return [
    formatBytes(m.recordBytes),
    appenders,
    formatCount(m.recordsPerSecond),
    m.megabytesPerSecond.toFixed(2),
    m.recordsPerSync.toFixed(1),
    `${m.latencyMsMean.toFixed(3)} ms`,
    `${m.latencyMsP50.toFixed(3)} ms`,
    `${m.latencyMsP99.toFixed(3)} ms`,
    `${m.cpuMicrosPerRecord.toFixed(1)} µs`,
    raw === undefined ? '-' : `${(m.recordsPerSecond / raw.recordsPerSecond).toFixed(2)}×`,
    raw === undefined ? '-' : `${(m.latencyMsP50 / raw.latencyMsP50).toFixed(2)}×`,
  ];
}
