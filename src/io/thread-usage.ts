import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

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

/** USER_HZ: /proc reports CPU time in these ticks (100 on every Linux Node supports). */
const clockTicksPerSecond = 100;

/** The fields of a /proc/<pid>/stat (or task) line that raftchart reads; CPU in µs. */
export interface ProcStatLine {
  readonly comm: string;
  /** One letter: R running, S sleeping, D disk wait, Z zombie (dead, not yet reaped), X dead, … */
  readonly state: string;
  readonly ppid: number;
  /** utime + stime: the process's (or thread's) own CPU time. */
  readonly cpuMicros: number;
  /** cutime + cstime: children that have exited and been waited for. */
  readonly reapedChildrenCpuMicros: number;
  /** starttime: when the process (or thread) started, in clock ticks since boot; with the boot id it names one process. */
  readonly startTimeTicks: number;
}

/** Parses one stat line; null when it is not one. */
export function parseProcStat(stat: string): ProcStatLine | null {
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  // After it, index 0 is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17,
  // starttime 22.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' ');
  const micros = (ticks: number) => (ticks * 1_000_000) / clockTicksPerSecond;
  const cpuMicros = micros(Number(fields[11]) + Number(fields[12]));
  const startTimeTicks = Number(fields[19]);
  if (!Number.isFinite(cpuMicros) || !Number.isSafeInteger(startTimeTicks) || !/^[A-Za-z]$/.test(fields[0])) return null;
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    state: fields[0],
    ppid: Number(fields[1]),
    cpuMicros,
    reapedChildrenCpuMicros: micros(Number(fields[13]) + Number(fields[14])),
    startTimeTicks,
  };
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
