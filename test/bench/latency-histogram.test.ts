import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../bench/latency-histogram.ts';

describe('latency histogram', () => {
  it('gives percentiles within 0.1% and the extremes, in ms', () => {
    const histogram = new LatencyHistogram();
    for (let i = 1; i <= 10_000; i++) histogram.recordMs(i / 1000);
    const summary = histogram.summary();
    expect(summary.count).toBe(10_000);
    expect(summary.minMs).toBeCloseTo(0.001, 6);
    expect(summary.maxMs).toBeCloseTo(10, 2);
    expect(Math.abs(summary.p50Ms - 5) / 5).toBeLessThan(0.001);
    expect(Math.abs(summary.p99Ms - 9.9) / 9.9).toBeLessThan(0.001);
    expect(Math.abs(summary.p999Ms - 9.99) / 9.99).toBeLessThan(0.001);
  });

  it('adds another histogram, and an empty one says NaN', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    a.recordMs(1);
    b.recordMs(3);
    b.recordMs(3);
    a.add(b);
    expect(a.summary()).toMatchObject({ count: 3, minMs: 1, p50Ms: 3, maxMs: 3 });
    expect(new LatencyHistogram().summary().p99Ms).toBeNaN();
  });
});
