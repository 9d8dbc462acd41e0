import { describe, expect, it } from 'vitest';
import { threadCpuMicros, watchThreadUsage } from '../../src/io/thread-usage.ts';

describe('thread usage: CPU time and GC pauses of the calling thread', () => {
  it('counts this thread busy, not the wall clock while it sleeps', async () => {
    const before = threadCpuMicros();
    expect(before).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const slept = (threadCpuMicros() as number) - (before as number);
    const spinUntil = performance.now() + 300;
    while (performance.now() < spinUntil);
    const spun = (threadCpuMicros() as number) - (before as number) - slept;
    expect(slept).toBeLessThan(150_000);
    expect(spun).toBeGreaterThan(150_000);
  });

  it('sums the GC pauses of this thread', async () => {
    const read = watchThreadUsage();
    let garbage: object[] = [];
    for (let i = 0; i < 3_000_000; i++) {
      garbage.push({ i });
      if (garbage.length > 100_000) garbage = [];
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(read().gcPauseMs).toBeGreaterThan(0);
  });
});
