import { describe, expect, it } from 'vitest';
import { processSplitOf, resultOf, summarize, type ConfigResult } from '../../bench/cluster-bench.ts';
import { parseClusterBenchArgs } from '../../bench/cluster-bench-options.ts';
import { LatencyHistogram } from '../../bench/latency-histogram.ts';

const machine = { cpus: 2, cpuModel: 'test', loadAverage: [1, 1, 1], node: 'v20', platform: 'linux x64', tempDir: '/tmp/x', fileSystem: 'ext4', device: '/dev/vda' };

/** A configuration measured over reps whose ops/s are `rates` (1 s windows) with latencies of `ms`. */
function config(key: Pick<ConfigResult, 'system' | 'nodes' | 'bytes' | 'fsync' | 'concurrency'>, rates: number[], ms: number): ConfigResult {
  return summarize(
    key,
    rates.map((rate) => {
      const latencies = new LatencyHistogram();
      latencies.recordMs(ms);
      return { ops: rate, ms: 1000, cpuMicros: rate * 100, peakRssBytes: 200 * 1024 ** 2, latencies, retries: 0 };
    }),
  );
}

const raftchart = (nodes: number, fsync: boolean, concurrency: number, rates: number[], ms = 1) =>
  config({ system: 'raftchart', nodes, bytes: 100, fsync, concurrency }, rates, ms);

describe('cluster benchmark result', () => {
  it('summarizes repetitions: the median ops/s with min and max, CPU per 1,000 ops, peak RSS', () => {
    const result = raftchart(3, true, 16, [300, 100, 200], 2);
    expect(result).toMatchObject({ opsPerSec: 200, opsPerSecMin: 100, opsPerSecMax: 300, opsPerSecByRep: [300, 100, 200], ops: 600, repetitions: 3, peakRssMb: 200 });
    expect(result.cpuSecPer1kOps).toBeCloseTo(0.1, 9);
    expect(result.p50Ms).toBeCloseTo(2, 2);
  });

  it('picks the best concurrency of 3 servers, 100 B, fsync on; compares with etcd; reports each target', () => {
    const results = [
      raftchart(3, true, 1, [1000], 0.3),
      raftchart(3, true, 256, [50_000]),
      raftchart(3, false, 256, [55_000]),
      raftchart(5, true, 256, [20_000]),
      config({ system: 'etcd', nodes: 3, bytes: 100, fsync: true, concurrency: 256 }, [4000], 60),
    ];
    const result = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options: parseClusterBenchArgs([], 'r'), machine, etcd: '/usr/bin/etcd', limits: null, results });
    expect(result.best).toMatchObject({ system: 'raftchart', nodes: 3, concurrency: 256, opsPerSec: 50_000 });
    expect(result.etcdBest).toMatchObject({ system: 'etcd', opsPerSec: 4000 });
    expect(result.ratioVsEtcd).toBe(12.5);
    expect(result.targets.map((t) => [t.name, t.met])).toEqual([
      ['best ops/s (3 servers, 100 B, fsync on)', false],
      ['best over etcd best', true],
      ['concurrency 1 p50 ms', true],
      ['concurrency 1 p99 ms', true],
      ['fsync on over fsync off (best ops/s)', true],
      ['5 servers over 3 servers (best ops/s)', false],
    ]);
    expect(result.results.map((r) => `${r.system}/${r.nodes}/${r.fsync}/${r.concurrency}`)).toEqual([
      'raftchart/3/true/1',
      'raftchart/3/true/256',
      'raftchart/3/false/256',
      'raftchart/5/true/256',
      'etcd/3/true/256',
    ]);
    for (const r of result.results) {
      for (const field of ['system', 'nodes', 'concurrency', 'bytes', 'fsync', 'opsPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'cpuSecPer1kOps', 'peakRssMb', 'repetitions']) {
        expect(r).toHaveProperty(field);
      }
    }
  });

  it('with --processes, compares the serve processes with etcd: at their best (≥ 5×) and at one client (≥ 1×)', () => {
    const serve = (concurrency: number, rates: number[]) => config({ system: 'raftchart-serve', nodes: 3, bytes: 100, fsync: true, concurrency }, rates, 2);
    const etcd = (concurrency: number, rates: number[]) => config({ system: 'etcd', nodes: 3, bytes: 100, fsync: true, concurrency }, rates, 2);
    const results = [serve(1, [400]), serve(1024, [30_000]), serve(256, [21_000]), etcd(1, [500]), etcd(256, [5000]), etcd(1024, [6000])];
    const result = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options: parseClusterBenchArgs(['--processes'], 'r'), machine, etcd: '/usr/bin/etcd', limits: null, results });
    expect(result.serve).toMatchObject({ raftClients: 1, best: { system: 'raftchart-serve', concurrency: 1024 }, ratioVsEtcd: 5, oneClientRatioVsEtcd: 0.8 });
    expect(result.targets.map((t) => [t.name, t.value, t.met])).toEqual([
      ['serve processes best over etcd best (3 servers, 100 B, fsync on)', 5, true],
      ['serve processes at 1 client over etcd at 1 client', 0.8, false],
    ]);
    expect(result.results.map((r) => `${r.system}/${r.concurrency}`)).toEqual(['raftchart-serve/1', 'raftchart-serve/256', 'raftchart-serve/1024', 'etcd/1', 'etcd/256', 'etcd/1024']);
    const withoutEtcd = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options: parseClusterBenchArgs(['--processes'], 'r'), machine, etcd: null, limits: null, results: results.slice(0, 3) });
    expect(withoutEtcd.targets.map((t) => t.met)).toEqual([null, null]);
  });

  it('splits a serve configuration\'s CPU per operation by process: this one, the leader, one follower', () => {
    const windows = [
      { clientMicros: 1000, leaderMicros: 3000, followersMicros: 4000, followers: 2 },
      { clientMicros: 3000, leaderMicros: 5000, followersMicros: 4000, followers: 2 },
    ];
    expect(processSplitOf(windows, 100)).toEqual({ clientUsPerOp: 40, leaderUsPerOp: 80, followerUsPerOp: 40 });
    expect(processSplitOf([windows[0], null], 100)).toBeNull();
    expect(processSplitOf(windows, 0)).toBeNull();
  });

  it('leaves what was not measured as null: no etcd, no fsync-off, no 5 servers', () => {
    const result = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options: parseClusterBenchArgs(['--quick'], 'r'), machine, etcd: null, limits: null, results: [raftchart(3, true, 256, [150_000])] });
    expect(result.ratioVsEtcd).toBeNull();
    expect(result.targets.map((t) => t.met)).toEqual([true, null, null, null, null, null]);
    expect(JSON.parse(JSON.stringify(result))).toMatchObject({ best: { opsPerSec: 150_000 }, ratioVsEtcd: null, machine: { cpus: 2, fileSystem: 'ext4' } });
  });
});
