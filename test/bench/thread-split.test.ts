import { afterEach, describe, expect, it } from 'vitest';
import { summarize } from '../../bench/cluster-bench.ts';
import { LatencyHistogram } from '../../bench/latency-histogram.ts';
import { deltaOf, readThreads, splitOf, type ThreadReading } from '../../bench/thread-split.ts';
import { ClusterPool, command, commit } from '../cluster/harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

/** A reading: the process, the main thread and two workers (CPU µs, GC ms). */
function reading(processMicros: number, main: [number, number], workers: [number, number][]): ThreadReading {
  return { processMicros, main: { cpuMicros: main[0], gcPauseMs: main[1] }, workers: workers.map(([cpuMicros, gcPauseMs]) => ({ cpuMicros, gcPauseMs })) };
}

describe('thread split (where a window CPU went)', () => {
  it('splits the process CPU into the main thread, one worker on average and the rest, per operation', () => {
    const start = reading(1_000, [100, 1], [[200, 2], [300, 3]]);
    const end = reading(11_000, [2_100, 3], [[4_200, 4], [3_300, 6]]);
    const delta = deltaOf(start, end);
    expect(delta).toEqual({ processMicros: 10_000, mainMicros: 2_000, mainGcMs: 2, workerMicros: 7_000, workerGcMs: 5, workers: 2 });
    // Two windows of 500 ops each: 1,000 ops.
    expect(splitOf([delta, delta], 1_000)).toEqual({ mainUsPerOp: 4, workerUsPerOp: 7, otherUsPerOp: 2, mainGcUsPerOp: 4, workerGcUsPerOp: 5 });
    expect(splitOf([delta, null], 1_000)).toBeNull();
    expect(splitOf([delta], 0)).toBeNull();
    expect(deltaOf(null, end)).toBeNull();
  });

  it("keeps a raftchart row's split in the summary, and none for etcd", () => {
    const delta = deltaOf(reading(0, [0, 0], [[0, 0]]), reading(3_000, [1_000, 0], [[1_500, 1]]));
    const window = { ops: 100, ms: 1000, cpuMicros: 3_000, peakRssBytes: 1, latencies: new LatencyHistogram(), retries: 0, threads: delta };
    expect(summarize({ system: 'raftchart', nodes: 1, bytes: 100, fsync: true, concurrency: 1 }, [window]).cpuSplit).toEqual({ mainUsPerOp: 10, workerUsPerOp: 15, otherUsPerOp: 5, mainGcUsPerOp: 0, workerGcUsPerOp: 10 });
    expect(summarize({ system: 'etcd', nodes: 3, bytes: 100, fsync: true, concurrency: 1 }, [{ ...window, threads: undefined }]).cpuSplit).toBeNull();
  });

  it.runIf(process.platform === 'linux')('reads every worker thread of a running cluster, and gives up on one that is down', async () => {
    const { cluster } = await pool.start({ nodes: 2, fsync: false });
    const before = await readThreads(cluster);
    for (let i = 0; i < 50; i++) await commit(cluster, command(`k${i}`));
    const after = await readThreads(cluster);
    const delta = deltaOf(before, after);
    expect(delta?.workers).toBe(2);
    expect(delta?.processMicros).toBeGreaterThan(0);
    expect(delta?.mainMicros).toBeGreaterThanOrEqual(0);
    expect(delta?.processMicros).toBeGreaterThanOrEqual((delta?.mainMicros ?? 0) + (delta?.workerMicros ?? 0) - 20_000);
    await cluster.crash('n1');
    expect(await readThreads(cluster)).toBeNull();
  });
});
