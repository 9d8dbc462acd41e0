import { describe, expect, it } from 'vitest';
import { logPosition, niceCeiling, renderChart } from '../../bench/svg-chart.ts';

describe('SVG chart', () => {
  const svg = renderChart('raftchart vs etcd', [
    { label: 'raftchart, 3 servers, 100 B, fsync on', points: [{ concurrency: 256, opsPerSec: 20_000, p99Ms: 40 }, { concurrency: 1, opsPerSec: 100, p99Ms: 10 }] },
    { label: 'etcd <3 members>', points: [{ concurrency: 1, opsPerSec: 400, p99Ms: 7 }, { concurrency: 256, opsPerSec: 4000, p99Ms: 130 }] },
  ]);

  it('draws two panels, a line per configuration in each, and a legend', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('committed ops/s');
    expect(svg).toContain('p99 latency, ms (log)');
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    expect(svg.match(/<circle /g)).toHaveLength(8);
    expect(svg).toContain('>raftchart, 3 servers, 100 B, fsync on</text>');
    expect(svg).toContain('>etcd &lt;3 members&gt;</text>');
  });

  it('puts concurrency on a log axis: the smallest at the left edge, the largest at the right', () => {
    // The ops/s panel's first series, in order of concurrency.
    const points = /<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="([^"]+)"/.exec(svg)?.[1].split(' ') ?? [];
    const xs = points.map((point) => Number(point.split(',')[0]));
    expect(xs).toEqual([70, 490]);
    expect(logPosition(16, { lo: 1, hi: 256 })).toBeCloseTo(0.5, 9);
  });

  it('rounds the ops/s axis up to 1, 2 or 5 × a power of ten', () => {
    expect(niceCeiling(4000)).toBe(5000);
    expect(niceCeiling(20_000)).toBe(20_000);
    expect(niceCeiling(20_001)).toBe(50_000);
  });
});
