import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseProcStat } from '../io/proc-stat.ts';

/**
 * What one thread costs: its own CPU time and its garbage-collection pauses. process.cpuUsage()
 * adds up every thread of the process; to see where a cluster's CPU goes (main thread, each
 * server's worker, or V8's and libuv's helper threads), each thread reads its own line in
 * /proc/thread-self/stat (Linux; elsewhere cpuMicros is null).
 */
export interface ThreadUsage {
  /** User + system CPU time of this thread so far, in µs (10 ms resolution), or null when the OS does not say. */
  readonly cpuMicros: number | null;
  /** Time this thread spent paused for garbage collection so far, in ms (since gcWatch() started). */
  readonly gcPauseMs: number;
}

/** This thread's CPU time so far in µs, or null when /proc/thread-self/stat is missing or unreadable. */
export function threadCpuMicros(): number | null {
  let stat: string;
  try {
    stat = readFileSync('/proc/thread-self/stat', 'latin1');
  } catch {
    return null;
  }
  return parseProcStat(stat)?.cpuMicros ?? null;
}

/** Starts summing this thread's GC pauses; returns a reader of both figures. Call once per thread. */
export function watchThreadUsage(): () => ThreadUsage {
  let gcPauseMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauseMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => ({ cpuMicros: threadCpuMicros(), gcPauseMs });
}
