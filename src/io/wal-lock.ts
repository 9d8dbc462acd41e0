import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { RaftchartError } from '../protocol/errors.ts';
import { unlinkIfPresent, type FileSystem } from './file-system.ts';
import { errorCodeOf } from './file-system-error.ts';
import { parseProcStat } from './proc-stat.ts';

export const lockFileName = 'LOCK';

/** Attempts to create the lock file; each failed one has removed a stale or broken lock. */
export const lockAttemptsMax = 3;

/**
 * A process as a LOCK file names it. On Linux the pid, its start time and the boot id together
 * name one process for good: a pid is handed out again once its process is gone, but never to a
 * process that started at the same tick of the same boot. Where they are unknown (off Linux, or a
 * LOCK written before they were recorded) only the pid says who held the lock.
 */
export interface LockHolder {
  readonly pid: number;
  /** Field 22 (starttime) of /proc/<pid>/stat: clock ticks from boot to the process's start; null when unknown. */
  readonly startTimeTicks: number | null;
  /** /proc/sys/kernel/random/boot_id of the boot the process ran in; null when unknown. */
  readonly bootId: string | null;
}

/** A lock this process holds; the token tells our lock file from one that replaced it. */
export interface HeldLock {
  readonly path: string;
  readonly token: string;
}

export interface LockOptions {
  /** Take the lock over even when its holder is alive (the holder is known to be gone). */
  readonly breakLock: boolean;
  /** Who takes the lock, as the lock file records it. */
  readonly holder: LockHolder;
  /** Whether the process a lock file names still runs; a lock held by a gone one is stale. */
  readonly isHolderAlive: (holder: LockHolder) => boolean;
}

/** pid_t is a signed 32-bit integer on every platform Node runs on: a larger number is no pid. */
const pidMax = 2 ** 31 - 1;

/** Tokens already handed out by this thread. */
let tokensIssued = 0;

/**
 * Takes the folder lock: a LOCK file created exclusively, holding "pid token starttime bootid"
 * ("-" for what is unknown). A lock whose holder is gone, or which is torn or empty, is stale and
 * taken over; with breakLock any lock is. Throws RaftchartError('LogLocked') while a live process
 * holds it. The lock is not synced: it needs not survive a crash, since every process holding it
 * dies with one.
 */
export async function acquireLock(fs: FileSystem, dir: string, options: LockOptions): Promise<HeldLock> {
  const path = join(dir, lockFileName);
  tokensIssued++;
  const token = `${options.holder.pid}.${threadId}.${tokensIssued}`;
  const content = new TextEncoder().encode(formatLock(options.holder, token));
  for (let attempt = 1; attempt <= lockAttemptsMax; attempt++) {
    try {
      await fs.createExclusive(path, content);
      return { path, token };
    } catch (error) {
      if (errorCodeOf(error) !== 'EEXIST') throw error;
    }
    const holder = await readHolder(fs, path);
    if (holder !== null && !options.breakLock && options.isHolderAlive(holder)) throw lockedError(dir, path, holder, options.holder);
    await unlinkIfPresent(fs, path);
  }
  throw new RaftchartError(
    'LogLocked',
    `could not take the lock ${path} in ${lockAttemptsMax} attempts: another process keeps creating it. Stop the other opener and retry.`,
    { dir },
  );
}

/** Removes the lock file if it is still ours (breakLock may have handed it to someone else). */
export async function releaseLock(fs: FileSystem, lock: HeldLock): Promise<void> {
  const holder = await readHolder(fs, lock.path);
  if (holder?.token === lock.token) await unlinkIfPresent(fs, lock.path);
}

function formatLock(holder: LockHolder, token: string): string {
  return `${holder.pid} ${token} ${holder.startTimeTicks ?? '-'} ${holder.bootId ?? '-'}\n`;
}

function lockedError(dir: string, path: string, holder: LockHolder, self: LockHolder): RaftchartError {
  const details = { dir, pid: holder.pid, startTimeTicks: holder.startTimeTicks, bootId: holder.bootId };
  if (holder.pid === self.pid) {
    return new RaftchartError(
      'LogLocked',
      `the log folder ${dir} is already open in this process (${holder.pid}), by another LocalCluster or openWal on the same folder: stop that one first, or give this one another folder.`,
      details,
    );
  }
  return new RaftchartError(
    'LogLocked',
    `the log folder ${dir} is locked by process ${holder.pid}, which is still running: stop that process first. ` +
      `If you are sure no server uses this folder, delete ${path} (openWal can also take it over with breakLock: true).`,
    details,
  );
}

/**
 * Who holds `path`: null when the file is gone, torn or empty. Its creator wrote it whole before
 * linking it into place, so only a crash of the machine, which ended the holder too, leaves it torn.
 * A line "pid token" is the format of the versions before start time and boot id were recorded.
 */
async function readHolder(fs: FileSystem, path: string): Promise<(LockHolder & { token: string }) | null> {
  let text: string;
  try {
    text = new TextDecoder().decode(await fs.readFile(path));
  } catch (error) {
    if (errorCodeOf(error) === 'ENOENT') return null;
    throw error;
  }
  const match = /^(\d+) (\S+)(?: (\d+|-) ([\da-f-]+))?\n$/.exec(text);
  if (match === null) return null;
  const pid = Number(match[1]);
  const startTimeTicks = match[3] === undefined || match[3] === '-' ? null : Number(match[3]);
  const bootId = match[4] === undefined || match[4] === '-' ? null : match[4];
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > pidMax || (startTimeTicks !== null && !Number.isSafeInteger(startTimeTicks))) return null;
  return { pid, token: match[2], startTimeTicks, bootId };
}

/** This process as a lock holder; read once per thread, since none of it changes. */
let thisProcessHolder: LockHolder | undefined;

/** This process: its pid, and on Linux its start time and the boot id. */
export function thisProcess(): LockHolder {
  thisProcessHolder ??= {
    pid: process.pid,
    // /proc/self is the process (the thread group), also when read from a worker thread.
    startTimeTicks: readProcStat('self')?.startTimeTicks ?? null,
    bootId: readBootId(),
  };
  return thisProcessHolder;
}

/**
 * Whether `holder` still runs. On Linux: /proc/<pid>/stat exists, its state is neither Z (a
 * zombie: dead, its files closed, only its parent has not reaped it) nor X, and its start time
 * and boot are the recorded ones; so a reused pid is not the holder. Where /proc cannot say
 * (off Linux, or hidden by hidepid) it falls back to process.kill(pid, 0), which also answers yes
 * for a zombie or a reused pid: a weaker promise. A lock of the old "pid token" format has no start
 * time: a live process at that pid counts as its holder, unless that pid is this process's own,
 * which on Linux always records its start time, so an earlier process with our pid wrote it.
 */
export function isHolderAlive(holder: LockHolder): boolean {
  const self = thisProcess();
  if (holder.bootId !== null && self.bootId !== null && holder.bootId !== self.bootId) return false;
  if (holder.startTimeTicks === null && self.startTimeTicks !== null && holder.pid === self.pid) return false;
  const stat = readProcStat(String(holder.pid));
  if (stat === null) return answersSignalZero(holder.pid);
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return holder.startTimeTicks === null || stat.startTimeTicks === holder.startTimeTicks;
}

/** The parsed /proc/<pid>/stat, or null when it is missing or unreadable (gone, no /proc, or hidden). */
function readProcStat(pid: string): ReturnType<typeof parseProcStat> {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

function readBootId(): string | null {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    return /^[\da-f-]+$/.test(bootId) ? bootId : null;
  } catch {
    return null;
  }
}

/** process.kill(pid, 0) probes without signalling: ESRCH means no such process; EPERM means alive but not ours. */
function answersSignalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCodeOf(error) !== 'ESRCH';
  }
}
