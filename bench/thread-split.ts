import type { LocalCluster } from '../src/cluster/local-cluster.ts';
import { watchThreadUsage, type ThreadUsage } from '../src/host/thread-usage.ts';
import { thisProcess } from './closed-loop.ts';

/**
 * Where a raftchart window's CPU went: this process's main thread (the bus, the clients), each
 * server's worker thread, and the rest (V8's GC helper threads, libuv's fdatasync pool), with the
 * garbage-collection pauses of the main thread and the workers. Read from /proc/thread-self/stat in
 * each thread (Linux; elsewhere the split is null) at the window's edges.
 */
export interface ThreadReading {
  /** Every thread of the process (process.cpuUsage()), µs. */
  readonly processMicros: number;
  readonly main: ThreadUsage & { readonly cpuMicros: number };
  readonly workers: readonly (ThreadUsage & { readonly cpuMicros: number })[];
}

/** What a window's CPU went on, summed over the window (µs; GC pauses in ms). */
export interface ThreadDelta {
  readonly processMicros: number;
  readonly mainMicros: number;
  readonly mainGcMs: number;
  readonly workerMicros: number;
  readonly workerGcMs: number;
  readonly workers: number;
}

/** A configuration's CPU per operation, in µs, over all its repetitions. */
export interface CpuSplit {
  readonly mainUsPerOp: number;
  /** One server's worker, on average over the servers. */
  readonly workerUsPerOp: number;
  /** Every thread that is neither the main thread nor a server's worker. */
  readonly otherUsPerOp: number;
  readonly mainGcUsPerOp: number;
  /** One worker's GC pauses, on average over the servers. */
  readonly workerGcUsPerOp: number;
}

let mainUsage: (() => ThreadUsage) | null = null;

/** The process's, the main thread's and every server's worker's CPU now; null off Linux or when a server is not running. */
export async function readThreads(cluster: LocalCluster): Promise<ThreadReading | null> {
  mainUsage ??= watchThreadUsage();
  let counters;
  try {
    counters = await Promise.all(cluster.nodeIds.map((id) => cluster.workerCounters(id)));
  } catch {
    return null;
  }
  const processMicros = thisProcess.cpuMicros();
  const main = mainUsage();
  const workers = counters.map((c) => ({ cpuMicros: c.threadCpuMicros, gcPauseMs: c.gcPauseMs }));
  if (main.cpuMicros === null || workers.some((w) => w.cpuMicros === null)) return null;
  return { processMicros, main: { ...main, cpuMicros: main.cpuMicros }, workers: workers as ThreadReading['workers'] };
}

/** The CPU spent between two readings of the same cluster; null when either is missing. */
export function deltaOf(start: ThreadReading | null, end: ThreadReading | null): ThreadDelta | null {
  if (start === null || end === null || start.workers.length !== end.workers.length) return null;
  const sum = (pick: (usage: ThreadReading['workers'][number]) => number, reading: ThreadReading) => reading.workers.reduce((total, w) => total + pick(w), 0);
  return {
    processMicros: end.processMicros - start.processMicros,
    mainMicros: end.main.cpuMicros - start.main.cpuMicros,
    mainGcMs: end.main.gcPauseMs - start.main.gcPauseMs,
    workerMicros: sum((w) => w.cpuMicros, end) - sum((w) => w.cpuMicros, start),
    workerGcMs: sum((w) => w.gcPauseMs, end) - sum((w) => w.gcPauseMs, start),
    workers: end.workers.length,
  };
}

/** Per operation over windows that together completed `ops`; null when any window has no split or nothing completed. */
export function splitOf(deltas: readonly (ThreadDelta | null | undefined)[], ops: number): CpuSplit | null {
  if (ops === 0 || deltas.length === 0 || deltas.some((delta) => delta === null || delta === undefined)) return null;
  const all = deltas as readonly ThreadDelta[];
  const total = (pick: (delta: ThreadDelta) => number) => all.reduce((sum, delta) => sum + pick(delta), 0);
  const perOp = (micros: number) => micros / ops;
  const workers = all[0].workers;
  return {
    mainUsPerOp: perOp(total((d) => d.mainMicros)),
    workerUsPerOp: perOp(total((d) => d.workerMicros)) / workers,
    otherUsPerOp: perOp(total((d) => d.processMicros - d.mainMicros - d.workerMicros)),
    mainGcUsPerOp: perOp(total((d) => d.mainGcMs * 1000)),
    workerGcUsPerOp: perOp(total((d) => d.workerGcMs * 1000)) / workers,
  };
}
