import { writevSync } from 'node:fs';
import { constants, type FileHandle, link, open, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { threadId } from 'node:worker_threads';
import type { AppendableFile, CorruptibleFileSystem, CreateMode, FileSystem } from './file-system.ts';
import { errorCodeOf, FileSystemError } from './file-system-error.ts';

/**
 * Writev calls per append before giving up on a file that keeps accepting fewer bytes than asked.
 * libuv already loops on short writes, so more than one call means the disk is refusing bytes.
 */
export const appendCallsMax = 8;

const openFlags: Record<CreateMode, number> = {
  ifMissing: constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT,
  exclusive: constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL,
  never: constants.O_WRONLY | constants.O_APPEND,
};

/** What link() answers on a file system that has no hard links. */
const linkUnsupportedCodes: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Staging files createExclusive has named in this thread; with pid and thread id they name a fresh one. */
let stagingFilesIssued = 0;

/** Real files through node:fs/promises. Errors are Node's own, with their errno `code`. */
export class RealFileSystem implements FileSystem, CorruptibleFileSystem {
  async openAppend(path: string, create: CreateMode): Promise<AppendableFile> {
    return new RealAppendableFile(await open(path, openFlags[create], 0o644), path);
  }

  async createExclusive(path: string, data: Uint8Array): Promise<void> {
    // Written whole under a name of its own, then linked into place: link() fails with EEXIST as
    // O_EXCL does, and no reader ever finds `path` empty or half written (an empty LOCK would
    // otherwise look like the remnant of a crash and be taken over while its creator still writes).
    stagingFilesIssued++;
    const staging = `${path}.${process.pid}-${threadId}-${stagingFilesIssued}.tmp`;
    await writeFile(staging, data, { flag: 'wx', mode: 0o644 });
    try {
      await link(staging, path);
    } catch (error) {
      // A file system without hard links (FAT, exFAT) gets the plain exclusive create.
      if (!linkUnsupportedCodes.has(errorCodeOf(error) ?? '')) throw error;
      await writeFile(path, data, { flag: 'wx', mode: 0o644 });
    } finally {
      await unlink(staging);
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    return readFile(path);
  }

  async readdir(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  async mkdirp(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    await unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    // A folder's entries are made durable by fsync on the folder itself, opened read-only.
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async flipBit(path: string, offset: number, bit = 0): Promise<void> {
    const handle = await open(path, 'r+');
    try {
      const byte = new Uint8Array(1);
      const { bytesRead } = await handle.read(byte, 0, 1, offset);
      if (bytesRead !== 1) throw new FileSystemError('EINVAL', 'read', path, `offset ${offset} is past the end`);
      byte[0] ^= 1 << bit;
      await handle.write(byte, 0, 1, offset);
    } finally {
      await handle.close();
    }
  }
}

class RealAppendableFile implements AppendableFile {
  readonly #handle: FileHandle;
  readonly #path: string;

  constructor(handle: FileHandle, path: string) {
    this.#handle = handle;
    this.#path = path;
  }

  async append(buffers: readonly Uint8Array[]): Promise<void> {
    let pending = buffers.filter((buffer) => buffer.length > 0);
    for (let call = 0; call < appendCallsMax && pending.length > 0; call++) {
      // O_APPEND: every writev lands at the current end, so a short write is simply resumed.
      // Synchronous on purpose: a write into the page cache takes microseconds, while the async
      // call waits for a slot in libuv's thread pool, which every worker of the process shares
      // (4 threads) and where other servers' fdatasyncs sit for milliseconds. Only datasync waits.
      const bytesWritten = writevSync(this.#handle.fd, pending as Uint8Array[]);
      pending = dropWritten(pending, bytesWritten);
    }
    if (pending.length > 0) {
      throw new FileSystemError('EIO', 'writev', this.#path, `the disk accepted no more bytes after ${appendCallsMax} calls`);
    }
  }

  async datasync(): Promise<void> {
    await this.#handle.datasync();
  }

  async truncate(length: number): Promise<void> {
    await this.#handle.truncate(length);
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

/** The buffers still to write after `written` bytes of `buffers` went out (views, no copies). */
export function dropWritten(buffers: readonly Uint8Array[], written: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = written;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
    } else {
      rest.push(skip === 0 ? buffer : buffer.subarray(skip));
      skip = 0;
    }
  }
  return rest;
}
