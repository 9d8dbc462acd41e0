import { describe, expect, it } from 'vitest';
import { parseProcStat } from '../../src/io/proc-stat.ts';
import { threadCpuMicros, watchThreadUsage } from '../../src/host/thread-usage.ts';

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

  it('reads state, parent and start time from a stat line whose command holds spaces and parentheses', () => {
    // Fields 3..22 of a zombie: state Z, ppid 41, utime 150 and stime 50 ticks, starttime 987654.
    const fields = ['Z', '41', ...Array.from({ length: 9 }, () => '0'), '150', '50', '0', '0', '20', '0', '1', '0', '987654', '0', '0'];
    const stat = parseProcStat(`4242 (node (a) b) ${fields.join(' ')}\n`);

    expect(stat).toEqual({ comm: 'node (a) b', state: 'Z', ppid: 41, cpuMicros: 2_000_000, reapedChildrenCpuMicros: 0, startTimeTicks: 987654 });
  });

  it('reads nothing from a line cut short before the start time', () => {
    expect(parseProcStat('4242 (node) S 41 4242 4242 0 -1 4194304 100 0 0 0 150 50')).toBeNull();
    expect(parseProcStat('')).toBeNull();
  });
});
