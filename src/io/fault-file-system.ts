import { setTimeout as sleepMs } from 'node:timers/promises';
import { assert } from '../core/assert.ts';
import {
  isCorruptible,
  isCrashable,
  type AppendableFile,
  type CorruptibleFileSystem,
  type CrashableFileSystem,
  type CrashOptions,
  type CreateMode,
  type FileSystem,
} from './file-system.ts';
import { errorCodeOf, FileSystemError } from './file-system-error.ts';

/** The operations a fault rule can break. */
export type FaultOperation = 'write' | 'datasync';

/** The errors a fault rule injects. */
export type FaultErrorCode = 'EIO' | 'ENOSPC';

/**
 * Makes matching calls fail. Calls are counted per rule from the moment it is added.
 * - `nth` absent: every matching call fails.
 * - `nth` = n: the nth matching call fails; with `persistent`, every one after it too.
 */
export interface FailRule {
  readonly operation: FaultOperation;
  readonly code: FaultErrorCode;
  readonly nth?: number;
  readonly persistent?: boolean;
  /** Which files the rule watches (by the path the file has now); default all. */
  readonly path?: (path: string) => boolean;
  /** For writes: how many leading bytes reach the file before the failure (a partial write). Default 0. */
  readonly bytesWrittenBeforeFailure?: number;
}

/** Makes every matching fdatasync wait `delayMs` before it runs (a slow disk). */
export interface SlowSyncRule {
  readonly delayMs: number;
  readonly path?: (path: string) => boolean;
}

/** One call that went through the fault file system, in order. */
export interface FaultCall {
  readonly operation:
    | 'open'
    | 'write'
    | 'datasync'
    | 'truncate'
    | 'close'
    | 'createExclusive'
    | 'readFile'
    | 'readdir'
    | 'mkdirp'
    | 'rename'
    | 'unlink'
    | 'syncDir';
  /** The file's path at the time of the call (a rename moves open files along). */
  readonly path: string;
  /** 'ok', or the error code the call failed with. */
  readonly outcome: string;
  /** True when this wrapper injected the failure. */
  readonly injected: boolean;
}

export interface FaultFileSystemOptions {
  /** How a slow datasync waits; inject a virtual clock here for deterministic runs. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The call log keeps at most this many calls; older ones are dropped in halves. */
export const faultCallLogLengthMax = 100_000;

interface FaultHooks {
  matchFailure(operation: FaultOperation, path: string): FailRule | null;
  datasyncDelayMs(path: string): number;
  sleep(ms: number): Promise<void>;
  forget(file: FaultAppendableFile): void;
  logged<T>(operation: FaultCall['operation'], path: string, call: () => Promise<T>): Promise<T>;
  record(operation: FaultCall['operation'], path: string, outcome: string, injected: boolean): void;
}

interface ActiveFailRule {
  readonly rule: FailRule;
  matched: number;
}

/**
 * Wraps a FileSystem and breaks it on purpose, by rules: failing writes or fdatasyncs (EIO,
 * ENOSPC; once, every time, or from the nth call on), slow fdatasyncs, flipped bits, and — when
 * the inner file system is crashable (MemoryFileSystem) — crashes that tear the last unsynced
 * write. Every call is logged in `calls`, so a test can prove what was, and was not, touched.
 *
 * A failed write writes `bytesWrittenBeforeFailure` bytes and then throws; a failed fdatasync
 * never reaches the inner file system, so the bytes it should have made durable stay volatile and
 * a later crash loses them (what Linux does after a failed writeback).
 */
export class FaultFileSystem implements FileSystem, CrashableFileSystem, CorruptibleFileSystem {
  readonly #inner: FileSystem;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #failRules: ActiveFailRule[] = [];
  readonly #slowSyncRules: SlowSyncRule[] = [];
  readonly #openFiles = new Set<FaultAppendableFile>();
  readonly #calls: FaultCall[] = [];
  /** What open files may use of their file system; kept off the public surface. */
  readonly #hooks: FaultHooks = {
    matchFailure: (operation, path) => this.#matchFailure(operation, path),
    datasyncDelayMs: (path) => this.#datasyncDelayMs(path),
    sleep: (ms) => this.#sleep(ms),
    forget: (file) => this.#openFiles.delete(file),
    logged: (operation, path, call) => this.#logged(operation, path, call),
    record: (operation, path, outcome, injected) => this.#record(operation, path, outcome, injected),
  };

  constructor(inner: FileSystem, options: FaultFileSystemOptions = {}) {
    this.#inner = inner;
    this.#sleep = options.sleep ?? ((ms) => sleepMs(ms));
  }

  /** Every call so far (at most faultCallLogLengthMax, newest last). */
  get calls(): readonly FaultCall[] {
    return this.#calls;
  }

  /** Adds a rule that fails matching writes or fdatasyncs; see FailRule. */
  failOn(rule: FailRule): void {
    assert(rule.nth === undefined || (Number.isInteger(rule.nth) && rule.nth >= 1), `nth ${rule.nth} must be an integer >= 1`);
    assert(rule.persistent !== true || rule.nth !== undefined, 'persistent needs nth (without nth every call fails already)');
    this.#failRules.push({ rule, matched: 0 });
  }

  /** Adds a rule that delays matching fdatasyncs. */
  slowDatasync(rule: SlowSyncRule): void {
    assert(Number.isFinite(rule.delayMs) && rule.delayMs >= 0, `delayMs ${rule.delayMs} must be >= 0`);
    this.#slowSyncRules.push(rule);
  }

  /** Removes every rule; the call log stays. */
  clearFaults(): void {
    this.#failRules.length = 0;
    this.#slowSyncRules.length = 0;
  }

  /** Forgets the call log. */
  clearCalls(): void {
    this.#calls.length = 0;
  }

  async flipBit(path: string, offset: number, bit = 0): Promise<void> {
    assert(isCorruptible(this.#inner), 'the inner file system cannot flip bits');
    await this.#inner.flipBit(path, offset, bit);
  }

  /** Crashes the inner file system; `tornWriteBytesKept` tears the last unsynced write. */
  crash(options: CrashOptions = {}): void {
    assert(isCrashable(this.#inner), 'the inner file system cannot crash (wrap a MemoryFileSystem)');
    this.#inner.crash(options);
    this.#openFiles.clear();
  }

  async openAppend(path: string, create: CreateMode): Promise<AppendableFile> {
    const inner = await this.#logged('open', path, () => this.#inner.openAppend(path, create));
    const file = new FaultAppendableFile(this.#hooks, inner, path);
    this.#openFiles.add(file);
    return file;
  }

  createExclusive(path: string, data: Uint8Array): Promise<void> {
    return this.#logged('createExclusive', path, () => this.#inner.createExclusive(path, data));
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#logged('readFile', path, () => this.#inner.readFile(path));
  }

  readdir(dir: string): Promise<string[]> {
    return this.#logged('readdir', dir, () => this.#inner.readdir(dir));
  }

  mkdirp(dir: string): Promise<void> {
    return this.#logged('mkdirp', dir, () => this.#inner.mkdirp(dir));
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#logged('rename', `${from} -> ${to}`, () => this.#inner.rename(from, to));
    for (const file of this.#openFiles) {
      if (file.path === from) file.path = to;
    }
  }

  unlink(path: string): Promise<void> {
    return this.#logged('unlink', path, () => this.#inner.unlink(path));
  }

  syncDir(dir: string): Promise<void> {
    return this.#logged('syncDir', dir, () => this.#inner.syncDir(dir));
  }

  /** The failing rule for this call, if any; counts the call for every matching rule. */
  #matchFailure(operation: FaultOperation, path: string): FailRule | null {
    let failing: FailRule | null = null;
    for (const active of this.#failRules) {
      const { rule } = active;
      if (rule.operation !== operation || (rule.path !== undefined && !rule.path(path))) continue;
      active.matched++;
      const fails = rule.nth === undefined || active.matched === rule.nth || (rule.persistent === true && active.matched > rule.nth);
      if (fails && failing === null) failing = rule;
    }
    return failing;
  }

  /** The total delay the slow-sync rules put on a datasync of `path`. */
  #datasyncDelayMs(path: string): number {
    let delay = 0;
    for (const rule of this.#slowSyncRules) {
      if (rule.path === undefined || rule.path(path)) delay += rule.delayMs;
    }
    return delay;
  }

  #record(operation: FaultCall['operation'], path: string, outcome: string, injected: boolean): void {
    if (this.#calls.length >= faultCallLogLengthMax) this.#calls.splice(0, faultCallLogLengthMax / 2);
    this.#calls.push({ operation, path, outcome, injected });
  }

  /** Runs `call`, logging its outcome. */
  async #logged<T>(operation: FaultCall['operation'], path: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.#record(operation, path, 'ok', false);
      return result;
    } catch (error) {
      this.#record(operation, path, errorCodeOf(error) ?? 'unknown', false);
      throw error;
    }
  }
}

class FaultAppendableFile implements AppendableFile {
  readonly #fs: FaultHooks;
  readonly #inner: AppendableFile;
  /** Where the file is now: FaultFileSystem.rename moves it. */
  path: string;

  constructor(fs: FaultHooks, inner: AppendableFile, path: string) {
    this.#fs = fs;
    this.#inner = inner;
    this.path = path;
  }

  async append(buffers: readonly Uint8Array[]): Promise<void> {
    const rule = this.#fs.matchFailure('write', this.path);
    if (rule === null) return this.#fs.logged('write', this.path, () => this.#inner.append(buffers));
    const prefix = takePrefix(buffers, rule.bytesWrittenBeforeFailure ?? 0);
    if (prefix.length > 0) await this.#inner.append(prefix);
    this.#fs.record('write', this.path, rule.code, true);
    throw new FileSystemError(rule.code, 'write', this.path);
  }

  async datasync(): Promise<void> {
    const delay = this.#fs.datasyncDelayMs(this.path);
    if (delay > 0) await this.#fs.sleep(delay);
    const rule = this.#fs.matchFailure('datasync', this.path);
    if (rule === null) return this.#fs.logged('datasync', this.path, () => this.#inner.datasync());
    this.#fs.record('datasync', this.path, rule.code, true);
    throw new FileSystemError(rule.code, 'fdatasync', this.path);
  }

  truncate(length: number): Promise<void> {
    return this.#fs.logged('truncate', this.path, () => this.#inner.truncate(length));
  }

  async close(): Promise<void> {
    this.#fs.forget(this);
    await this.#fs.logged('close', this.path, () => this.#inner.close());
  }
}

/** The first `bytes` bytes of `buffers`, as views. */
function takePrefix(buffers: readonly Uint8Array[], bytes: number): Uint8Array[] {
  const prefix: Uint8Array[] = [];
  let left = bytes;
  for (const buffer of buffers) {
    if (left <= 0) break;
    prefix.push(buffer.subarray(0, Math.min(left, buffer.length)));
    left -= buffer.length;
  }
  return prefix;
}
