import { dirname, join } from 'node:path';
import { assert } from '../core/assert.ts';
import { RaftchartError } from '../protocol/errors.ts';
import type { LogRecord } from '../protocol/records.ts';
import type { LogStorage } from '../protocol/storage.ts';
import type { Entry, HardState, RecoveredState, Snapshot } from '../protocol/types.ts';
import { closeQuietly, unlinkIfPresent, type FileSystem } from './file-system.ts';
import { errorCodeOf } from './file-system-error.ts';
import { encodedBytes, encodeRecords, type WalRecord } from './record-codec.ts';
import { parseSnapshotFileName, writeSnapshotFile } from './snapshot-file.ts';
import { acquireLock, isHolderAlive, releaseLock, thisProcess, type HeldLock, type LockHolder } from './wal-lock.ts';
import { recoverLog, type KeptSnapshot, type TornTail } from './wal-recovery.ts';
import { createSegment, parseSegmentFileName, type OpenSegment } from './wal-segment.ts';

export type { LockHolder } from './wal-lock.ts';
export type { TornTail } from './wal-recovery.ts';

export const segmentBytesMaxDefault = 64 * 1024 * 1024;
/** Smaller segments would roll on almost every write. */
export const segmentBytesMin = 1024;
/** Calls queued behind the one running; the durable-log chart keeps one in flight, so more is a bug. */
export const pendingOperationsMax = 64;

export interface WalOptions {
  /** A segment rolls when a write would take it past this many bytes (see Wal). Default 64 MiB. */
  readonly segmentBytesMax?: number;
  /** false: no fdatasync and no folder sync at all (benchmarks, throwaway clusters); sync() still resolves. Default true. */
  readonly fsync?: boolean;
  /** Take the folder lock over even when its holder is alive: for a controller that has just terminated that holder. */
  readonly breakLock?: boolean;
  /** Who opens the log, as the lock file records it. Default: this process (pid, and on Linux its start time and the boot id). */
  readonly holder?: LockHolder;
  /** Whether the process a lock file names still runs. Default: isHolderAlive (from /proc on Linux; see src/io/README.md). */
  readonly isHolderAlive?: (holder: LockHolder) => boolean;
}

export interface OpenedWal {
  readonly wal: Wal;
  /** The hard state and entries recovery found. */
  readonly recovered: RecoveredState;
  /** The torn write cut from the last segment at open, or null. */
  readonly tornTail: TornTail | null;
}

/**
 * Opens (creating it if needed) the write-ahead log in folder `dir`: takes the folder lock, recovers
 * the log, cuts a torn tail, makes what it recovered durable, and returns a Wal appending after it.
 * Throws RaftchartError 'LogLocked' (a live process holds the folder), 'LogCorrupt' (damage that may
 * hide acknowledged records), 'InvalidOptions', or a file-system error with its errno code.
 */
export async function openWal(fs: FileSystem, dir: string, options: WalOptions = {}): Promise<OpenedWal> {
  const segmentBytesMax = options.segmentBytesMax ?? segmentBytesMaxDefault;
  if (!Number.isSafeInteger(segmentBytesMax) || segmentBytesMax < segmentBytesMin) {
    throw new RaftchartError('InvalidOptions', `segmentBytesMax must be an integer >= ${segmentBytesMin}, got ${segmentBytesMax}`, {
      segmentBytesMax,
    });
  }
  const fsync = options.fsync ?? true;
  await fs.mkdirp(dir);
  // The folder's own entry in its parent must be durable too, or a crash can lose the whole log.
  if (fsync) await fs.syncDir(dirname(dir));
  const lock = await acquireLock(fs, dir, {
    breakLock: options.breakLock ?? false,
    holder: options.holder ?? thisProcess(),
    isHolderAlive: options.isHolderAlive ?? isHolderAlive,
  });
  try {
    const { recovered, tornTail, lastSegment, keptSnapshots } = await recoverLog(fs, dir, fsync);
    const start = lastSegment === null ? await startFirstSegment(fs, dir, fsync) : await reopenSegment(fs, lastSegment, fsync);
    const lastIndex = (recovered.snapshot?.index ?? 0) + recovered.entries.length;
    const wal = new Wal(fs, dir, lock, { segmentBytesMax, fsync }, { ...start, lastIndex, keptSnapshots });
    return { wal, recovered, tornTail };
  } catch (error) {
    // Report what went wrong, not a failure to clean up after it.
    await releaseLock(fs, lock).catch(() => undefined);
    throw error;
  }
}

/** Where a Wal starts appending: an open segment, its length, and the log's last index. */
export interface WalStart {
  readonly segment: OpenSegment;
  readonly bytes: number;
  /** The segment's length when it held only its header; 0 when unknown. */
  readonly headerOnlyBytes: number;
  readonly lastIndex: number;
  /** The snapshots whose files and log must stay (recovery's keptSnapshots). */
  readonly keptSnapshots: readonly KeptSnapshot[];
}

/** How many snapshots a folder keeps: the newest, and one to fall back to should it break. */
export const snapshotsKept = 2;

async function startFirstSegment(fs: FileSystem, dir: string, fsync: boolean): Promise<Omit<WalStart, 'lastIndex' | 'keptSnapshots'>> {
  const header = encodeRecords([{ type: 'segmentHeader', sequence: 1, previousSegmentValidBytes: 0, baseIndex: 0, baseTerm: 0 }]);
  const segment = await createSegment(fs, dir, 1, header, fsync);
  return { segment, bytes: header.length, headerOnlyBytes: header.length };
}

async function reopenSegment(
  fs: FileSystem,
  last: { readonly sequence: number; readonly path: string; readonly validBytes: number },
  fsync: boolean,
): Promise<Omit<WalStart, 'lastIndex' | 'keptSnapshots'>> {
  const file = await fs.openAppend(last.path, 'never');
  try {
    // What recovery read may sit only in the page cache of a process that crashed before its
    // fdatasync; the restarted server will speak from it, so it must be durable first.
    if (fsync) await file.datasync();
  } catch (error) {
    await closeQuietly(file);
    throw error;
  }
  return { segment: { sequence: last.sequence, path: last.path, file }, bytes: last.validBytes, headerOnlyBytes: 0 };
}

/** Where appends go, how much of that segment is written and confirmed, and whether a rewrite is due. */
export interface WalPosition {
  readonly segment: string;
  readonly writtenBytes: number;
  readonly confirmedBytes: number;
  readonly failed: boolean;
}

/**
 * The write-ahead log of one server: segment files `NNNNNNNNNNNNNNNN.wal` in one folder, holding
 * hard states, entries and truncations as checksummed frames (record-codec.ts), so that one
 * fdatasync covers all of them. Implements LogStorage; see its contract.
 *
 * - write(): encodes all records into one buffer, one writev. sync(): one fdatasync.
 * - "Confirmed" bytes are those covered by the last successful sync() or rewrite().
 * - After a failed write or sync, write() and sync() are refused until rewrite() succeeds.
 *   rewrite() never touches the failed file again: it builds the next segment, whose header says
 *   the failed one is valid only up to its confirmed length, holding `records` again.
 * - A segment rolls only at a confirmed point (nothing written since the last sync), so no
 *   unconfirmed record ever spans two segments and a rewrite can never duplicate one. A segment
 *   therefore exceeds segmentBytesMax by at most what is written between two syncs.
 * - installSnapshot() writes the snapshot file, then starts a fresh segment after it (its header
 *   names the snapshot as its base), then deletes what neither of the two newest snapshots needs:
 *   older snapshot files and the segments before the older one's base segment (paper §7).
 * - Calls run one at a time in call order (at most pendingOperationsMax queued).
 */
export class Wal implements LogStorage {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #lock: HeldLock;
  readonly #segmentBytesMax: number;
  readonly #fsync: boolean;
  #segment: OpenSegment;
  #writtenBytes: number;
  #confirmedBytes: number;
  /** The last entry index after everything written, and after everything confirmed: to refuse gaps. */
  #writtenLastIndex: number;
  #confirmedLastIndex: number;
  /** The current segment's length when it held only its header (0 when unknown): rolling it would gain nothing. */
  #headerOnlyBytes: number;
  #failed = false;
  #closed = false;
  #confirmations = 0;
  /** The snapshots kept, oldest first (at most snapshotsKept). */
  #kept: KeptSnapshot[];
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** Use openWal, which recovers the log and takes the lock first. */
  constructor(fs: FileSystem, dir: string, lock: HeldLock, options: { readonly segmentBytesMax: number; readonly fsync: boolean }, start: WalStart) {
    this.#fs = fs;
    this.#dir = dir;
    this.#lock = lock;
    this.#segmentBytesMax = options.segmentBytesMax;
    this.#fsync = options.fsync;
    this.#segment = start.segment;
    this.#writtenBytes = this.#confirmedBytes = start.bytes;
    this.#headerOnlyBytes = start.headerOnlyBytes;
    this.#writtenLastIndex = this.#confirmedLastIndex = start.lastIndex;
    this.#kept = [...start.keptSnapshots];
  }

  get position(): WalPosition {
    return { segment: this.#segment.path, writtenBytes: this.#writtenBytes, confirmedBytes: this.#confirmedBytes, failed: this.#failed };
  }

  /** Successful sync() calls that made new bytes durable, plus successful rewrite() calls: the inspector's sync rate. */
  get confirmations(): number {
    return this.#confirmations;
  }

  async write(records: readonly LogRecord[]): Promise<void> {
    return this.#enqueue(() => this.#write(records));
  }

  async sync(): Promise<void> {
    return this.#enqueue(() => this.#sync());
  }

  async rewrite(records: readonly LogRecord[]): Promise<void> {
    return this.#enqueue(() => this.#rewrite(records));
  }

  async installSnapshot(snapshot: Snapshot, hardState: HardState, entries: readonly Entry[]): Promise<void> {
    return this.#enqueue(() => this.#installSnapshot(snapshot, hardState, entries));
  }

  /** The snapshots this folder keeps, oldest first: index and file. */
  get snapshots(): readonly { readonly index: number; readonly path: string }[] {
    return this.#kept.map(({ index, path }) => ({ index, path }));
  }

  /** Closes the segment and releases the lock, after every call already made. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#tail.then(() => undefined);
    const closing = this.#enqueue(() => this.#close());
    this.#closed = true;
    return closing;
  }

  async #write(records: readonly LogRecord[]): Promise<void> {
    assert(!this.#failed, 'write after a failed write or sync: call rewrite() with every unconfirmed record first');
    const lastIndex = lastIndexAfter(records, this.#writtenLastIndex);
    const bytes = encodeRecords(records);
    if (bytes.length === 0) return;
    try {
      if (this.#shouldRoll(bytes.length)) await this.#roll();
      await this.#segment.file.append([bytes]);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    this.#writtenBytes += bytes.length;
    this.#writtenLastIndex = lastIndex;
  }

  async #sync(): Promise<void> {
    assert(!this.#failed, 'sync after a failed write or sync: the failed file must never be synced again; call rewrite()');
    if (this.#writtenBytes === this.#confirmedBytes) return;
    if (this.#fsync) {
      try {
        await this.#segment.file.datasync();
      } catch (error) {
        this.#failed = true;
        throw error;
      }
    }
    this.#confirmedBytes = this.#writtenBytes;
    this.#confirmedLastIndex = this.#writtenLastIndex;
    this.#confirmations++;
  }

  async #rewrite(records: readonly LogRecord[]): Promise<void> {
    const lastIndex = lastIndexAfter(records, this.#confirmedLastIndex);
    const sequence = this.#segment.sequence + 1;
    const header: WalRecord = { type: 'segmentHeader', sequence, previousSegmentValidBytes: this.#confirmedBytes, baseIndex: 0, baseTerm: 0 };
    const bytes = encodeRecords([header, ...records]);
    let created: OpenSegment;
    try {
      created = await createSegment(this.#fs, this.#dir, sequence, bytes, this.#fsync);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    await closeQuietly(this.#segment.file);
    this.#segment = created;
    this.#writtenBytes = this.#confirmedBytes = bytes.length;
    this.#headerOnlyBytes = encodedBytes([header]);
    this.#writtenLastIndex = this.#confirmedLastIndex = lastIndex;
    this.#failed = false;
    this.#confirmations++;
  }

  /**
   * The snapshot file first (written, synced, renamed, folder synced); then the next segment,
   * created the same way, naming the snapshot as its base and holding the hard state and the
   * entries that follow the snapshot; only then the deletions. A crash before the segment exists
   * leaves a snapshot file nothing continues, which recovery passes over. Called at a confirmed
   * point only (the durable-log chart writes a snapshot alone, after every earlier batch is durable).
   */
  async #installSnapshot(snapshot: Snapshot, hardState: HardState, entries: readonly Entry[]): Promise<void> {
    assert(!this.#failed && this.#writtenBytes === this.#confirmedBytes, 'installSnapshot with unconfirmed writes: the durable log writes a snapshot only at a confirmed point');
    if (entries.length > 0 && entries[0].index !== snapshot.index + 1) assert(false, `the entries after snapshot ${snapshot.index} start at ${entries[0].index}`);
    const path = await writeSnapshotFile(this.#fs, this.#dir, snapshot, this.#fsync);
    const sequence = this.#segment.sequence + 1;
    const records: WalRecord[] = [
      { type: 'segmentHeader', sequence, previousSegmentValidBytes: this.#confirmedBytes, baseIndex: snapshot.index, baseTerm: snapshot.term },
      { type: 'hardState', hardState },
    ];
    if (entries.length > 0) records.push({ type: 'entries', entries });
    const bytes = encodeRecords(records);
    const created = await createSegment(this.#fs, this.#dir, sequence, bytes, this.#fsync);
    await closeQuietly(this.#segment.file);
    this.#segment = created;
    this.#writtenBytes = this.#confirmedBytes = bytes.length;
    this.#headerOnlyBytes = 0;
    this.#writtenLastIndex = this.#confirmedLastIndex = entries.at(-1)?.index ?? snapshot.index;
    this.#confirmations++;
    this.#kept = [...this.#kept.filter((kept) => kept.index !== snapshot.index), { index: snapshot.index, path, baseSequence: sequence }].slice(-snapshotsKept);
    await this.#deleteUnneeded();
  }

  /**
   * Deletes the snapshot files not kept and the segments before the oldest kept snapshot's base
   * segment, then syncs the folder. Best effort: a file left behind costs space, not safety, and
   * the next snapshot tries again, so a failure here is not a failure of the snapshot.
   */
  async #deleteUnneeded(): Promise<void> {
    const oldest = this.#kept[0];
    if (oldest === undefined) return;
    try {
      const kept = new Set(this.#kept.map((snapshot) => snapshot.path));
      let deleted = 0;
      for (const name of await this.#fs.readdir(this.#dir)) {
        const sequence = parseSegmentFileName(name);
        const path = join(this.#dir, name);
        const unneeded = sequence !== null ? sequence < oldest.baseSequence : parseSnapshotFileName(name) !== null && !kept.has(path);
        if (!unneeded) continue;
        await unlinkIfPresent(this.#fs, path);
        deleted++;
      }
      if (deleted > 0 && this.#fsync) await this.#fs.syncDir(this.#dir);
    } catch (error) {
      if (errorCodeOf(error) === undefined) throw error;
    }
  }

  /** Rolls only at a confirmed point, and never an empty segment (a huge batch gets one of its own). */
  #shouldRoll(incomingBytes: number): boolean {
    return (
      this.#writtenBytes === this.#confirmedBytes &&
      this.#writtenBytes + incomingBytes > this.#segmentBytesMax &&
      this.#writtenBytes > this.#headerOnlyBytes
    );
  }

  /** Starts the next segment; the current one is confirmed whole, so its successor claims all of it. */
  async #roll(): Promise<void> {
    const sequence = this.#segment.sequence + 1;
    const bytes = encodeRecords([{ type: 'segmentHeader', sequence, previousSegmentValidBytes: this.#writtenBytes, baseIndex: 0, baseTerm: 0 }]);
    const created = await createSegment(this.#fs, this.#dir, sequence, bytes, this.#fsync);
    await closeQuietly(this.#segment.file);
    this.#segment = created;
    this.#writtenBytes = this.#confirmedBytes = this.#headerOnlyBytes = bytes.length;
  }

  async #close(): Promise<void> {
    try {
      await this.#segment.file.close();
    } finally {
      await releaseLock(this.#fs, this.#lock);
    }
  }

  /** Queues `operation` behind every earlier call. Async callers get a failed assert as a rejection. */
  #enqueue(operation: () => Promise<void>): Promise<void> {
    assert(!this.#closed, 'the write-ahead log is closed');
    if (this.#pending >= pendingOperationsMax) assert(false, `more than ${pendingOperationsMax} log calls queued: await each before the next`);
    this.#pending++;
    const run = this.#tail.then(operation).finally(() => {
      this.#pending--;
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

/**
 * The last entry index after `records` apply to a log ending at `lastIndex`. Asserts no entries
 * record leaves a gap: recovery would refuse the log it writes.
 */
function lastIndexAfter(records: readonly LogRecord[], lastIndex: number): number {
  let last = lastIndex;
  for (const record of records) {
    if (record.type === 'entries' && record.entries.length > 0) {
      const first = record.entries[0].index;
      if (!(first >= 1 && first <= last + 1)) assert(false, `entries start at index ${first} but the log ends at ${last}: a gap`);
      last = record.entries[record.entries.length - 1].index;
    } else if (record.type === 'truncate') {
      last = Math.min(last, record.fromIndex - 1);
    }
  }
  return last;
}
