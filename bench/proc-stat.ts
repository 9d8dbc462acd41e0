import { readdirSync, readFileSync } from 'node:fs';
import { parseProcStat, type ProcStatLine } from '../src/io/proc-stat.ts';

/**
 * CPU time and memory of other processes, from Linux's /proc: etcd's members, the inspector page's
 * browser. Off Linux (no /proc) every figure reads 0.
 */

/** A process's stat line, with its pid. */
interface ProcStat extends ProcStatLine {
  readonly pid: number;
}

function readProc(pid: number | undefined, file: string): string | null {
  if (pid === undefined) return null;
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

function procStat(pid: number): ProcStat | null {
  const stat = parseProcStat(readProc(pid, 'stat') ?? '');
  return stat === null ? null : { ...stat, pid };
}

/** utime + stime of `pid` in µs; 0 once it has exited. */
export function cpuMicrosOf(pid: number | undefined): number {
  return pid === undefined ? 0 : (procStat(pid)?.cpuMicros ?? 0);
}

/** Resident memory of `pid` in bytes; 0 once it has exited. */
export function rssBytesOf(pid: number | undefined): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(pid, 'status') ?? '');
  return match === null ? 0 : Number(match[1]) * 1024;
}

function everyProcess(): ProcStat[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  return names.filter((name) => /^\d+$/.test(name)).flatMap((name) => procStat(Number(name)) ?? []);
}

/**
 * The CPU time so far, in µs, of every process below `parentPid` whose name is `comm`, and of all
 * their descendants, counting children that already exited (cutime + cstime): a browser with its
 * zygotes, renderers, GPU and network processes. Read twice, the difference is what the tree used
 * in between, whichever of its processes came and went.
 */
export function processTreeCpuMicros(parentPid: number, comm: string): number {
  const processes = everyProcess();
  const children = new Map<number, ProcStat[]>();
  for (const proc of processes) children.set(proc.ppid, [...(children.get(proc.ppid) ?? []), proc]);
  const queue = (children.get(parentPid) ?? []).filter((proc) => proc.comm === comm);
  let micros = 0;
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    micros += next.cpuMicros + next.reapedChildrenCpuMicros;
    queue.push(...(children.get(next.pid) ?? []));
  }
  return micros;
}
