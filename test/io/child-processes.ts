import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseProcStat, type ProcStatLine } from '../../src/io/proc-stat.ts';

/**
 * Child processes for tests that kill them: started directly (Node reaps them when they die) or
 * under a parent that never reaps them, so that a killed one stays a zombie. killAll(), called in
 * afterEach, ends every one of them, even when the test failed. Every wait here is bounded.
 */

/** How long killAll() waits for each killed child to be gone. */
const closeWaitMs = 5_000;

/** A started process and the whole lines it has printed so far. */
export class Child {
  readonly process: ChildProcess;
  readonly lines: string[] = [];
  #partial = '';
  #stderr = '';
  #ended = false;
  readonly #changed = new Set<() => void>();

  constructor(child: ChildProcess) {
    this.process = child;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      // A line is counted only once whole: a kill can cut the last one short.
      this.#partial = parts.pop()!;
      this.lines.push(...parts);
      this.#notify();
    });
    // The output ends when every process holding it has ended: all of it has been read then.
    child.stdout!.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the first line matching `pattern`; rejects after `timeoutMs`, or once the output ends without one. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        for (const line of this.lines) {
          const match = pattern.exec(line);
          if (match !== null) return done(() => resolve(match));
        }
        if (this.#ended) done(() => reject(new Error(`the child ended without printing ${pattern}; stderr:\n${this.#stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no line ${pattern} within ${timeoutMs} ms; stderr:\n${this.#stderr}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.#changed.delete(check);
        settle();
      };
      this.#changed.add(check);
      check();
    });
  }

  /** Resolves once the output has ended (every line is in `lines`); rejects after `timeoutMs`. */
  async outputEnded(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#ended) {
      if (performance.now() > deadline) throw new Error(`the child's output did not end within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  #notify(): void {
    for (const listener of [...this.#changed]) listener();
  }
}

/** /proc/<pid>/stat, or null when there is no such process. */
function procStat(pid: number): ProcStatLine | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** The state letter of /proc/<pid>/stat (R, S, Z, …), or null when there is no such process. */
export function processState(pid: number): string | null {
  return procStat(pid)?.state ?? null;
}

/** The start time (field 22 of /proc/<pid>/stat) of a running process. */
export function processStartTimeTicks(pid: number): number {
  const stat = procStat(pid);
  if (stat === null) throw new Error(`process ${pid} has no /proc/${pid}/stat`);
  return stat.startTimeTicks;
}

/** Waits, polling /proc, until `pid` runs the program `command` (its comm); fails after `timeoutMs`. */
async function waitForCommand(pid: number, command: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let comm = procStat(pid)?.comm; comm !== command; comm = procStat(pid)?.comm) {
    if (performance.now() > deadline) throw new Error(`process ${pid} did not become ${command} within ${timeoutMs} ms (it runs ${comm})`);
    await sleep(10);
  }
}

/** Waits, polling /proc, until `pid` is a zombie (state Z); fails after `timeoutMs`. */
export async function waitForZombie(pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let state = processState(pid); state !== 'Z'; state = processState(pid)) {
    if (performance.now() > deadline) throw new Error(`process ${pid} did not become a zombie within ${timeoutMs} ms (state ${state})`);
    await sleep(10);
  }
}

export class ChildProcesses {
  readonly #parents = new Set<ChildProcess>();
  /** Processes started by an unreaping parent, each with that parent. */
  readonly #unreaped = new Map<number, ChildProcess>();

  /** Starts `argv` as a direct child of this process. */
  spawn(argv: readonly string[], cwd: string): Child {
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#parents.add(child);
    return new Child(child);
  }

  /**
   * Starts `argv` under a parent that never reaps it: sh starts it in the background, prints
   * "spawned <pid>", then becomes `sleep parentSeconds` (exec), which never calls wait(). Resolves
   * with the output and the pid of `argv`'s process; sleep does not hold the output, so it ends
   * when that process does.
   */
  async spawnUnreaped(argv: readonly string[], cwd: string, parentSeconds = 60): Promise<{ child: Child; pid: number }> {
    const script = `"$@" & echo "spawned $!"; exec sleep ${parentSeconds} >/dev/null 2>&1`;
    const child = this.spawn(['sh', '-c', script, 'sh', ...argv], cwd);
    const pid = Number((await child.waitForLine(/^spawned (\d+)$/, 5_000))[1]);
    this.#unreaped.set(pid, child.process);
    // Until sh has become sleep it may still reap the child (as dash does between commands).
    await waitForCommand(child.process.pid!, 'sleep', 5_000);
    return { child, pid };
  }

  /** SIGKILLs `pid`, one of the processes spawnUnreaped started; it stays a zombie until its parent ends. */
  killUnreaped(pid: number): void {
    const parent = this.#unreaped.get(pid);
    if (parent === undefined) throw new Error(`process ${pid} was not started by spawnUnreaped`);
    if (isRunning(parent)) process.kill(pid, 'SIGKILL');
  }

  /** Ends the parent of an unreaped process (and so, through init, reaps the process). */
  async endParentOf(pid: number): Promise<void> {
    const parent = this.#unreaped.get(pid);
    this.#unreaped.delete(pid);
    if (parent !== undefined) await killAndWait(parent);
  }

  /** SIGKILLs every process started here and waits, bounded, for each to be gone. */
  async killAll(): Promise<void> {
    // Only while its parent runs is a pid surely still ours: that parent never reaps it, so the
    // pid cannot have been handed to another process. So these go first, and only then the parents.
    for (const [pid, parent] of this.#unreaped) {
      if (isRunning(parent)) process.kill(pid, 'SIGKILL');
    }
    this.#unreaped.clear();
    const parents = [...this.#parents];
    this.#parents.clear();
    await Promise.all(parents.map(killAndWait));
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return;
  const closed = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await Promise.race([closed, sleep(closeWaitMs)]);
}
