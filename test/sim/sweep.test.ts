import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulate.ts';
import { sweep } from '../../src/sim/sweep.ts';

describe('seed sweep', () => {
  it('runs seeds over a piscina pool and sums the same reports a single run gives', async () => {
    const progress: number[] = [];
    const summary = await sweep({ seeds: 10, firstSeed: 100, nodes: 3, durationMs: 1000, threads: 2, onProgress: (done) => progress.push(done) });
    expect(summary.seeds).toBe(10);
    expect(summary.violations).toEqual([]);
    expect(progress[progress.length - 1]).toBe(10);
    let elections = 0;
    let committed = 0;
    for (let seed = 100; seed < 110; seed++) {
      const report = simulate({ seed, nodes: 3, durationMs: 1000 });
      elections += report.elections;
      committed += report.committed;
    }
    expect(summary.elections).toBe(elections);
    expect(summary.committed).toBe(committed);
    expect(summary.seedsPerSec).toBeGreaterThan(0);
  });
});
