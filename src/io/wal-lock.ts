import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { RaftchartError } from '../protocol/errors.ts';
import { unlinkIfPresent, type FileSystem } from './file-system.ts';
import { errorCodeOf } from './file-system-error.ts';

export const lockFileName = 'LOCK';

/** Attempts to create the lock file; each failed one has removed a stale or broken lock. */
export const lockAttemptsMax = 3;

/** A lock this process holds; the token tells our lock file from one that replaced it. */
export interface HeldLock {
  readonly path: string;
  readonly token: string;
}

export interface LockOptions {
  /** Take the lock over even when its holder's pid is alive (the holder is known to be gone). */
  readonly breakLock: boolean;
  /** The pid written into the lock file. */
  readonly pid: number;
  /** Whether a pid names a live process; a lock held by a dead one is stale. */
  readonly isProcessAlive: (pid: number) => boolean;
}

/** Tokens already handed out by this thread. */
let tokensIssued = 0;

/**
 * Takes the folder lock: a LOCK file created exclusively, holding "pid token". A lock whose pid
 * is dead is stale and taken over; with breakLock any lock is. Throws RaftchartError('LogLocked')
 * while a live process holds it. The lock is not synced: it needs not survive a crash, since
 * every process holding it dies with one.
 */
export async function acquireLock(fs: FileSystem, dir: string, options: LockOptions): Promise<HeldLock> {
  const path = join(dir, lockFileName);
  tokensIssued++;
  const token = `${options.pid}.${threadId}.${tokensIssued}`;
  const content = new TextEncoder().encode(`${options.pid} ${token}\n`);
  for (let attempt = 1; attempt <= lockAttemptsMax; attempt++) {
    try {
      await fs.createExclusive(path, content);
      return { path, token };
    } catch (error) {
      if (errorCodeOf(error) !== 'EEXIST') throw error;
    }
    const holder = await readHolder(fs, path);
    if (holder !== null && !options.breakLock && options.isProcessAlive(holder.pid)) {
      throw new RaftchartError(
        'LogLocked',
        `the log folder ${dir} is locked by process ${holder.pid}, which is still running: stop that server first. ` +
          `If you are sure no server uses this folder, delete ${path} or open it with breakLock: true.`,
        { dir, pid: holder.pid },
      );
    }
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

/** The pid of the process that holds `path`, or null when the file is gone or unreadable (a crash mid-create). */
async function readHolder(fs: FileSystem, path: string): Promise<{ pid: number; token: string } | null> {
  let text: string;
  try {
    text = new TextDecoder().decode(await fs.readFile(path));
  } catch (error) {
    if (errorCodeOf(error) === 'ENOENT') return null;
    throw error;
  }
  const match = /^(\d+) (\S+)\n$/.exec(text);
  if (match === null) return null;
  const pid = Number(match[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, token: match[2] } : null;
}

/** process.kill(pid, 0) probes without signalling: ESRCH means no such process; EPERM means alive but not ours. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCodeOf(error) !== 'ESRCH';
  }
}
