import { posix } from 'node:path';
import { assert } from '../core/assert.ts';
import type {
  AppendableFile,
  CorruptibleFileSystem,
  CrashableFileSystem,
  CrashOptions,
  CreateMode,
  FileSystem,
} from './file-system.ts';
import { FileSystemError } from './file-system-error.ts';

/**
 * A file's bytes with what a crash would leave of them. Appends never touch bytes below
 * `length`, so the durable content is `bytes[0, durableLength)` unless a truncate cut into it;
 * then `durableSnapshot` keeps a copy until the next datasync.
 */
interface Inode {
  bytes: Uint8Array;
  length: number;
  durableLength: number;
  durableSnapshot: Uint8Array | null;
}

/** The most recent append, which a crash may tear. */
interface LastWrite {
  readonly inode: Inode;
  readonly offset: number;
  readonly length: number;
}

interface FileHooks {
  checkOpen(epoch: number, syscall: string, path: string): void;
  noteWrite(write: LastWrite): void;
  settle(inode: Inode): void;
}

/**
 * Files in memory with an honest crash model, for fast tests and the simulator: `crash()` keeps
 * only what was made durable. File bytes are durable after datasync; names (create, rename,
 * unlink) after syncDir on their folder, so a file created and never folder-synced disappears.
 * Folders themselves are durable once created (a simplification: mkdirp is not modelled as
 * losable). Deterministic: no timers, no randomness, readdir sorted.
 */
export class MemoryFileSystem implements FileSystem, CrashableFileSystem, CorruptibleFileSystem {
  readonly #entries = new Map<string, Inode>();
  readonly #durableEntries = new Map<string, Inode>();
  readonly #folders = new Set<string>(['/']);
  #lastWrite: LastWrite | null = null;
  /** Bumped by crash(): handles opened before it answer EBADF. */
  #epoch = 0;
  /** What open files may see and change of their file system; kept off the public surface. */
  readonly #hooks: FileHooks = {
    checkOpen: (epoch, syscall, path) => {
      if (epoch !== this.#epoch) throw new FileSystemError('EBADF', syscall, path, 'the file system crashed since this file was opened');
    },
    noteWrite: (write) => {
      this.#lastWrite = write;
    },
    // A datasync or truncate settles the file's last write: it can no longer tear.
    settle: (inode) => {
      if (this.#lastWrite?.inode === inode) this.#lastWrite = null;
    },
  };

  async openAppend(path: string, create: CreateMode): Promise<AppendableFile> {
    const key = this.#fileKey(path, 'open');
    let inode = this.#entries.get(key);
    if (inode !== undefined && create === 'exclusive') throw new FileSystemError('EEXIST', 'open', key);
    if (inode === undefined) {
      if (create === 'never') throw new FileSystemError('ENOENT', 'open', key);
      inode = newInode(new Uint8Array(0));
      this.#entries.set(key, inode);
    }
    return new MemoryAppendableFile(this.#hooks, inode, key, this.#epoch);
  }

  async createExclusive(path: string, data: Uint8Array): Promise<void> {
    const key = this.#fileKey(path, 'open');
    if (this.#entries.has(key)) throw new FileSystemError('EEXIST', 'open', key);
    this.#entries.set(key, newInode(data.slice()));
  }

  async readFile(path: string): Promise<Uint8Array> {
    const key = normalize(path);
    if (this.#folders.has(key)) throw new FileSystemError('EISDIR', 'read', key);
    const inode = this.#entries.get(key);
    if (inode === undefined) throw new FileSystemError('ENOENT', 'open', key);
    return inode.bytes.slice(0, inode.length);
  }

  async readdir(dir: string): Promise<string[]> {
    const key = this.#folderKey(dir, 'scandir');
    const names: string[] = [];
    for (const path of [...this.#entries.keys(), ...this.#folders]) {
      if (path !== '/' && posix.dirname(path) === key) names.push(posix.basename(path));
    }
    return names.sort();
  }

  async mkdirp(dir: string): Promise<void> {
    const key = normalize(dir);
    const missing: string[] = [];
    for (let folder = key; !this.#folders.has(folder); folder = posix.dirname(folder)) {
      if (this.#entries.has(folder)) throw new FileSystemError('ENOTDIR', 'mkdir', folder);
      missing.push(folder);
    }
    for (const folder of missing) this.#folders.add(folder);
  }

  async rename(from: string, to: string): Promise<void> {
    const fromKey = normalize(from);
    const inode = this.#entries.get(fromKey);
    if (inode === undefined) throw new FileSystemError('ENOENT', 'rename', fromKey);
    const toKey = this.#fileKey(to, 'rename');
    this.#entries.delete(fromKey);
    this.#entries.set(toKey, inode);
  }

  async unlink(path: string): Promise<void> {
    const key = normalize(path);
    if (!this.#entries.delete(key)) throw new FileSystemError('ENOENT', 'unlink', key);
  }

  async syncDir(dir: string): Promise<void> {
    const key = this.#folderKey(dir, 'fsync');
    for (const path of [...this.#durableEntries.keys()]) {
      if (posix.dirname(path) === key && !this.#entries.has(path)) this.#durableEntries.delete(path);
    }
    for (const [path, inode] of this.#entries) {
      if (posix.dirname(path) === key) this.#durableEntries.set(path, inode);
    }
  }

  async flipBit(path: string, offset: number, bit = 0): Promise<void> {
    const key = normalize(path);
    const inode = this.#entries.get(key);
    if (inode === undefined) throw new FileSystemError('ENOENT', 'open', key);
    assert(Number.isInteger(offset) && offset >= 0 && offset < inode.length, `flipBit offset ${offset} outside ${key}`);
    assert(Number.isInteger(bit) && bit >= 0 && bit < 8, `flipBit bit ${bit} is not in [0, 8)`);
    // Bit rot hits the medium: the durable copy too.
    inode.bytes[offset] ^= 1 << bit;
    if (inode.durableSnapshot !== null && offset < inode.durableSnapshot.length) inode.durableSnapshot[offset] ^= 1 << bit;
  }

  crash(options: CrashOptions = {}): void {
    const torn = this.#lastWrite;
    const survivors = new Set(this.#durableEntries.values());
    for (const inode of survivors) {
      const keep = torn !== null && torn.inode === inode ? tornLength(inode, torn, options) : null;
      restoreDurable(inode, keep);
    }
    this.#entries.clear();
    for (const [path, inode] of this.#durableEntries) this.#entries.set(path, inode);
    this.#lastWrite = null;
    this.#epoch++;
  }

  /** The size in bytes of `path` as it is now (synced or not). */
  sizeOf(path: string): number {
    const inode = this.#entries.get(normalize(path));
    if (inode === undefined) throw new FileSystemError('ENOENT', 'stat', normalize(path));
    return inode.length;
  }

  #fileKey(path: string, syscall: string): string {
    const key = normalize(path);
    if (this.#folders.has(key)) throw new FileSystemError('EISDIR', syscall, key);
    if (!this.#folders.has(posix.dirname(key))) throw new FileSystemError('ENOENT', syscall, key);
    return key;
  }

  #folderKey(dir: string, syscall: string): string {
    const key = normalize(dir);
    if (this.#folders.has(key)) return key;
    throw new FileSystemError(this.#entries.has(key) ? 'ENOTDIR' : 'ENOENT', syscall, key);
  }
}

class MemoryAppendableFile implements AppendableFile {
  readonly #fs: FileHooks;
  readonly #inode: Inode;
  readonly #path: string;
  readonly #epoch: number;
  #closed = false;

  constructor(fs: FileHooks, inode: Inode, path: string, epoch: number) {
    this.#fs = fs;
    this.#inode = inode;
    this.#path = path;
    this.#epoch = epoch;
  }

  async append(buffers: readonly Uint8Array[]): Promise<void> {
    this.#check('write');
    const inode = this.#inode;
    const offset = inode.length;
    let total = 0;
    for (const buffer of buffers) total += buffer.length;
    ensureCapacity(inode, offset + total);
    let position = offset;
    for (const buffer of buffers) {
      inode.bytes.set(buffer, position);
      position += buffer.length;
    }
    inode.length = position;
    if (total > 0) this.#fs.noteWrite({ inode, offset, length: total });
  }

  async datasync(): Promise<void> {
    this.#check('fdatasync');
    this.#inode.durableLength = this.#inode.length;
    this.#inode.durableSnapshot = null;
    this.#fs.settle(this.#inode);
  }

  async truncate(length: number): Promise<void> {
    this.#check('ftruncate');
    assert(Number.isInteger(length) && length >= 0, `truncate length ${length} must be a non-negative integer`);
    const inode = this.#inode;
    if (length < inode.durableLength && inode.durableSnapshot === null) {
      inode.durableSnapshot = inode.bytes.slice(0, inode.durableLength);
    }
    if (length > inode.length) {
      ensureCapacity(inode, length);
      inode.bytes.fill(0, inode.length, length);
    }
    inode.length = length;
    this.#fs.settle(inode);
  }

  async close(): Promise<void> {
    this.#check('close');
    this.#closed = true;
  }

  #check(syscall: string): void {
    if (this.#closed) throw new FileSystemError('EBADF', syscall, this.#path, 'the file is closed');
    this.#fs.checkOpen(this.#epoch, syscall, this.#path);
  }
}

function normalize(path: string): string {
  return posix.resolve('/', path);
}

function newInode(bytes: Uint8Array): Inode {
  return { bytes, length: bytes.length, durableLength: 0, durableSnapshot: null };
}

/** Grows the backing array geometrically so that appends cost amortised O(bytes appended). */
function ensureCapacity(inode: Inode, needed: number): void {
  if (needed <= inode.bytes.length) return;
  const grown = new Uint8Array(Math.max(needed, inode.bytes.length * 2, 4096));
  grown.set(inode.bytes.subarray(0, inode.length));
  inode.bytes = grown;
}

/** How long the torn file is after a crash, or null when the torn write cannot apply to it. */
function tornLength(inode: Inode, torn: LastWrite, options: CrashOptions): number | null {
  const kept = options.tornWriteBytesKept;
  if (kept === undefined || inode.durableSnapshot !== null || torn.offset < inode.durableLength) return null;
  assert(Number.isInteger(kept) && kept >= 0, `tornWriteBytesKept ${kept} must be a non-negative integer`);
  return torn.offset + Math.min(kept, torn.length);
}

/** Rolls `inode` back to its durable content, or to `keepLength` bytes of what was written. */
function restoreDurable(inode: Inode, keepLength: number | null): void {
  if (keepLength !== null) {
    inode.length = keepLength;
  } else if (inode.durableSnapshot !== null) {
    inode.bytes = inode.durableSnapshot;
    inode.length = inode.durableSnapshot.length;
  } else {
    inode.length = inode.durableLength;
  }
  inode.durableLength = inode.length;
  inode.durableSnapshot = null;
}
