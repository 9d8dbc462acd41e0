import { describe, expect, it } from 'vitest';
import { resultOf, summarize, type ConfigResult } from '../../bench/cluster-bench.ts';
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

  it('leaves what was not measured as null: no etcd, no fsync-off, no 5 servers', () => {
    const result = resultOf({ startedAt: '2026-11-27T00:00:00.000Z', options: parseClusterBenchArgs(['--quick'], 'r'), machine, etcd: null, limits: null, results: [raftchart(3, true, 256, [150_000])] });
    expect(result.ratioVsEtcd).toBeNull();
    expect(result.targets.map((t) => t.met)).toEqual([true, null, null, null, null, null]);
    expect(JSON.parse(JSON.stringify(result))).toMatchObject({ best: { opsPerSec: 150_000 }, ratioVsEtcd: null, machine: { cpus: 2, fileSystem: 'ext4' } });
  });
});
