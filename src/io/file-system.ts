import { errorCodeOf } from './file-system-error.ts';

/**
 * The only door the write-ahead log has to storage. Three implementations: real files
 * (real-file-system.ts), memory with a crash model (memory-file-system.ts), and a fault injector
 * that wraps either (fault-file-system.ts). Every method is async; every failure is thrown as an
 * Error with an errno-like string `code` ('EIO', 'ENOSPC', 'ENOENT', 'EEXIST', 'EBADF', …).
 *
 * Durability follows POSIX, and the memory file system models it: bytes are durable only after
 * `datasync` on their file; a created, renamed or removed name is durable only after `syncDir` on
 * its folder.
 */
export interface FileSystem {
  /**
   * Opens `path` for appending. `create`: 'ifMissing' creates it when absent; 'exclusive' fails
   * with EEXIST when it exists; 'never' fails with ENOENT when it is absent.
   */
  openAppend(path: string, create: CreateMode): Promise<AppendableFile>;
  /** Creates `path` holding `data`, failing with EEXIST when it exists (the lock file); a reader finds it whole or not at all. Not synced. */
  createExclusive(path: string, data: Uint8Array): Promise<void>;
  /** The whole content of `path`, as a fresh array the caller owns. */
  readFile(path: string): Promise<Uint8Array>;
  /** The names (not paths) in folder `dir`, in no particular order. */
  readdir(dir: string): Promise<string[]>;
  /** Creates `dir` and its missing parents (mkdir -p); no error when it exists. */
  mkdirp(dir: string): Promise<void>;
  /** Renames `from` to `to`, replacing `to` atomically when it exists. Durable after syncDir. */
  rename(from: string, to: string): Promise<void>;
  /** Removes the name `path`. Durable after syncDir. */
  unlink(path: string): Promise<void>;
  /** Makes every create, rename and unlink inside folder `dir` durable (fsync of the folder). */
  syncDir(dir: string): Promise<void>;
}

/** How openAppend treats a missing or an existing file. */
export type CreateMode = 'ifMissing' | 'exclusive' | 'never';

/** An open file that only grows at its end (or is cut with truncate). */
export interface AppendableFile {
  /**
   * Writes `buffers`, in order, at the end of the file as one writev. Resolves once every byte
   * is handed to the OS: readable, not durable. On rejection a prefix may have been written.
   */
  append(buffers: readonly Uint8Array[]): Promise<void>;
  /** fdatasync: makes the content and size durable (the folder entry needs syncDir). */
  datasync(): Promise<void>;
  /** ftruncate to `length` bytes; durable after datasync. */
  truncate(length: number): Promise<void>;
  /** Releases the handle. Nothing is flushed. */
  close(): Promise<void>;
}

/** What survives a simulated crash beyond what was synced. */
export interface CrashOptions {
  /**
   * When the most recent write to any file is still unsynced, keep this many of its first bytes
   * (a torn write); writes before it on the same file survive whole. Default: none of it survives.
   */
  readonly tornWriteBytesKept?: number;
}

/** A file system that can lose power: everything not made durable is discarded. */
export interface CrashableFileSystem {
  /** Discards every unsynced byte and name; open handles become invalid (EBADF). */
  crash(options?: CrashOptions): void;
}

/** A file system whose stored bytes can be damaged on purpose (bit rot), synced or not. */
export interface CorruptibleFileSystem {
  /** Flips bit `bit` (0 = least significant) of the byte at `offset` in `path`. */
  flipBit(path: string, offset: number, bit?: number): Promise<void>;
}

export function isCrashable(fs: FileSystem): fs is FileSystem & CrashableFileSystem {
  return typeof (fs as Partial<CrashableFileSystem>).crash === 'function';
}

export function isCorruptible(fs: FileSystem): fs is FileSystem & CorruptibleFileSystem {
  return typeof (fs as Partial<CorruptibleFileSystem>).flipBit === 'function';
}

/** Removes `path`; a missing file is fine (ENOENT is swallowed, every other error thrown). */
export async function unlinkIfPresent(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if (errorCodeOf(error) !== 'ENOENT') throw error;
  }
}

/** Closes `file`, ignoring its error: for files already failed or abandoned, whose close tells nothing new. */
export async function closeQuietly(file: AppendableFile): Promise<void> {
  try {
    await file.close();
  } catch {
    // The file is being abandoned; the error that made us abandon it has been reported already.
  }
}
