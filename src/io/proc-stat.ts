/**
 * Reading /proc/<pid>/stat (and /proc/thread-self/stat) lines on Linux: a process's or a thread's
 * state, parent, CPU time and start time. The WAL lock tells a live holder from a dead one with
 * it (wal-lock.ts); the host and the benchmark split CPU time by thread (src/host/thread-usage.ts).
 */

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
