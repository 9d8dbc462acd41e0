import { join } from 'node:path';
import { assert } from '../core/assert.ts';
import { RaftchartError } from '../protocol/errors.ts';
import type { LogRecord } from '../protocol/records.ts';
import { emptyHardState, type Entry, type HardState, type RecoveredState, type Snapshot } from '../protocol/types.ts';
import type { FileSystem } from './file-system.ts';
import { decodeFrameAt, decodeFrames, findValidFrameAfter, type DecodedFrame, type FrameFailure, type SegmentHeaderRecord } from './record-codec.ts';
import { decodeSnapshotFile, isTemporarySnapshotName, parseSnapshotFileName, snapshotFileName } from './snapshot-file.ts';
import { isTemporarySegmentName, parseSegmentFileName, segmentFileName } from './wal-segment.ts';

/** Bytes cut from the end of the last segment at open: a write that a crash interrupted. */
export interface TornTail {
  /** The segment's path. */
  readonly file: string;
  /** Where the cut frame began (the file's new length). */
  readonly offset: number;
  /** How many bytes were cut. */
  readonly bytes: number;
}

export interface RecoveryResult {
  readonly recovered: RecoveredState;
  readonly tornTail: TornTail | null;
  /** The last segment, all of it valid, to append to; null when the folder holds none. */
  readonly lastSegment: { readonly sequence: number; readonly path: string; readonly validBytes: number } | null;
  /**
   * The snapshots whose files and log must stay, oldest first (at most two): the one recovered
   * from, and the newest older one whose log still reaches it (a fallback should the newer break).
   */
  readonly keptSnapshots: readonly KeptSnapshot[];
}

/** A snapshot file and the segment that starts the log afresh after it. */
export interface KeptSnapshot {
  readonly index: number;
  readonly path: string;
  readonly baseSequence: number;
}

/**
 * Rebuilds the log from the snapshots and segments in `dir` and repairs what a crash may leave behind.
 *
 * - Segments must be k..n without a gap. Each begins with a header; segment i is read only up
 *   to the length segment i+1's header names (`previousSegmentValidBytes`), and every frame in
 *   that range must be whole with a good checksum.
 * - Snapshots (paper §7): a segment whose header names a base (index, term) starts the log afresh
 *   after the snapshot of that index. Recovery starts from the newest snapshot file that is whole
 *   (its checksum holds) and has such a segment, and replays from that segment on; a newer file
 *   without one (a crash before its log was started) or with bad data is passed over for the next
 *   older. Crossing a later base segment (after falling back), the log must hold its base entry.
 *   When no usable snapshot reaches the first segment left, or the log does not reach a snapshot
 *   it must cross: RaftchartError('LogCorrupt') naming the file.
 * - In the last segment, a bad frame with no valid frame anywhere after it is a torn write: it is
 *   cut (ftruncate + fdatasync) and reported as `tornTail`. A last segment whose header itself is
 *   torn holds no record and is removed.
 * - Anything else is damage: RaftchartError('LogCorrupt') naming the file and byte offset. Recovery
 *   never drops a record that may have been acknowledged.
 * - Temporary files of interrupted segment and snapshot writes are removed.
 */
export async function recoverLog(fs: FileSystem, dir: string, fsync: boolean): Promise<RecoveryResult> {
  const names = await fs.readdir(dir);
  let folderChanged = await removeTemporaries(fs, dir, names);
  const sequences = listSegments(dir, names);
  let tornTail: TornTail | null = null;

  let lastBytes = sequences.length === 0 ? null : await fs.readFile(segmentPath(dir, sequences[sequences.length - 1]));
  if (lastBytes !== null && isTornHeader(lastBytes, segmentPath(dir, sequences[sequences.length - 1]))) {
    const path = segmentPath(dir, sequences.pop()!);
    await fs.unlink(path);
    folderChanged = true;
    tornTail = lastBytes.length === 0 ? null : { file: path, offset: 0, bytes: lastBytes.length };
    lastBytes = sequences.length === 0 ? null : await fs.readFile(segmentPath(dir, sequences[sequences.length - 1]));
  }
  if (folderChanged && fsync) await fs.syncDir(dir);

  const start = await chooseStart(fs, dir, names, sequences);
  const replay = new LogReplay(start.snapshot);
  const first = sequences.indexOf(start.sequence);
  let bytes = first === sequences.length - 1 ? lastBytes : first < 0 ? null : await fs.readFile(segmentPath(dir, sequences[first]));
  let lastSegment: RecoveryResult['lastSegment'] = null;
  for (let i = Math.max(first, 0); i < sequences.length; i++) {
    assert(bytes !== null, 'segment bytes read ahead');
    const path = segmentPath(dir, sequences[i]);
    const isLast = i === sequences.length - 1;
    if (isLast) {
      const cut = await replayLastSegment(fs, path, sequences[i], bytes, replay, fsync, i === first);
      tornTail ??= cut;
      lastSegment = { sequence: sequences[i], path, validBytes: cut === null ? bytes.length : cut.offset };
    } else {
      const nextPath = segmentPath(dir, sequences[i + 1]);
      const next = i + 1 === sequences.length - 1 ? lastBytes! : await fs.readFile(nextPath);
      const validEnd = readHeader(next, nextPath, sequences[i + 1]).previousSegmentValidBytes;
      replaySegment(path, sequences[i], bytes, validEnd, replay, i === first);
      bytes = next;
    }
  }
  return { recovered: replay.finish(), tornTail, lastSegment, keptSnapshots: start.kept };
}

/** Where replay starts: a segment, the snapshot it continues (null: the log from index 1), and the snapshots to keep. */
interface ReplayStart {
  readonly sequence: number;
  readonly snapshot: Snapshot | null;
  readonly kept: readonly KeptSnapshot[];
}

/**
 * The newest usable snapshot and the segment its log starts in, or the first segment when no
 * snapshot is needed (the folder still holds segment 1). See recoverLog.
 */
async function chooseStart(fs: FileSystem, dir: string, names: readonly string[], sequences: readonly number[]): Promise<ReplayStart> {
  const indexes = names.map(parseSnapshotFileName).filter((index): index is number => index !== null).sort((a, b) => b - a);
  const firstSequence = sequences[0] ?? 1;
  if (indexes.length === 0) {
    if (firstSequence !== 1) throw corrupt(segmentPath(dir, firstSequence), 0, `the log starts at segment ${firstSequence}, after a snapshot, but there is no snapshot file`);
    return { sequence: firstSequence, snapshot: null, kept: [] };
  }
  if (sequences.length === 0) {
    throw corrupt(join(dir, snapshotFileName(indexes[0])), 0, 'there are snapshot files but no log segment at all: the log after the snapshot is missing');
  }
  const bases = await readBases(fs, dir, sequences);
  const problems: string[] = [];
  for (let k = 0; k < indexes.length; k++) {
    const index = indexes[k];
    const path = join(dir, snapshotFileName(index));
    const base = bases.get(index);
    if (base === undefined) {
      problems.push(`${path} has no segment that continues it (a crash before its log was started)`);
      continue;
    }
    const decoded = decodeSnapshotFile(await fs.readFile(path), index);
    if ('damage' in decoded) {
      problems.push(`${path} is unusable: ${decoded.damage}`);
      continue;
    }
    if (decoded.term !== base.term) {
      problems.push(`${path} holds term ${decoded.term}, the log after it says ${base.term}`);
      continue;
    }
    const kept: KeptSnapshot[] = [{ index, path, baseSequence: base.sequence }];
    const older = indexes.slice(k + 1).find((i) => bases.has(i));
    if (older !== undefined) kept.unshift({ index: older, path: join(dir, snapshotFileName(older)), baseSequence: bases.get(older)!.sequence });
    return { sequence: base.sequence, snapshot: decoded, kept };
  }
  if (firstSequence === 1) return { sequence: 1, snapshot: null, kept: [] };
  throw corrupt(join(dir, snapshotFileName(indexes[0])), 0, `the log starts at segment ${firstSequence}, after a snapshot, and no snapshot is usable: ${problems.join('; ')}`);
}

/** For each base index a segment header names, the last such segment and the base term. */
async function readBases(fs: FileSystem, dir: string, sequences: readonly number[]): Promise<Map<number, { sequence: number; term: number }>> {
  const bases = new Map<number, { sequence: number; term: number }>();
  for (const sequence of sequences) {
    const path = segmentPath(dir, sequence);
    const header = readHeader(await fs.readFile(path), path, sequence);
    if (header.baseIndex > 0) bases.set(header.baseIndex, { sequence, term: header.baseTerm });
  }
  return bases;
}

async function removeTemporaries(fs: FileSystem, dir: string, names: readonly string[]): Promise<boolean> {
  let removed = false;
  for (const name of names) {
    if (!isTemporarySegmentName(name) && !isTemporarySnapshotName(name)) continue;
    await fs.unlink(join(dir, name));
    removed = true;
  }
  return removed;
}

/** The segment sequence numbers in `names`, ascending; they must be k..n (compaction deletes those before k). */
function listSegments(dir: string, names: readonly string[]): number[] {
  const sequences: number[] = [];
  for (const name of names) {
    const sequence = parseSegmentFileName(name);
    if (sequence !== null) sequences.push(sequence);
  }
  sequences.sort((a, b) => a - b);
  for (let i = 1; i < sequences.length; i++) {
    if (sequences[i] !== sequences[i - 1] + 1) {
      const missing = join(dir, segmentFileName(sequences[i - 1] + 1));
      throw corrupt(missing, 0, `segment ${missing} is missing (found ${sequences[i]} after ${sequences[i - 1]})`);
    }
  }
  return sequences;
}

/**
 * True when the header frame at the start of the last segment is torn (nothing valid after it):
 * the crash hit before the header was durable. A damaged header followed by valid frames is corruption.
 */
function isTornHeader(bytes: Uint8Array, path: string): boolean {
  const result = decodeFrameAt(bytes, 0, bytes.length);
  if (result.ok) return false;
  if (isTornFailure(bytes, result.failure)) return true;
  throw corrupt(path, 0, result.failure.message);
}

function readHeader(bytes: Uint8Array, path: string, sequence: number): SegmentHeaderRecord {
  const result = decodeFrameAt(bytes, 0, bytes.length);
  if (!result.ok) throw corrupt(path, 0, `the segment header is damaged: ${result.failure.message}`);
  return checkHeader(result.frame, path, sequence);
}

function checkHeader(frame: DecodedFrame, path: string, sequence: number): SegmentHeaderRecord {
  const { record } = frame;
  if (record.type !== 'segmentHeader') throw corrupt(path, 0, `the segment starts with a ${record.type} record, not a header`);
  if (record.sequence !== sequence) throw corrupt(path, 0, `the header names segment ${record.sequence}`);
  if (sequence === 1 && (record.previousSegmentValidBytes !== 0 || record.baseIndex !== 0)) {
    throw corrupt(path, 0, `the first segment's header claims a previous segment or a snapshot`);
  }
  return record;
}

/** Replays a segment that has a successor: bytes [0, validEnd) must all be good frames. `isStart`: replay begins here. */
function replaySegment(path: string, sequence: number, bytes: Uint8Array, validEnd: number, replay: LogReplay, isStart: boolean): void {
  if (validEnd > bytes.length) {
    throw corrupt(path, bytes.length, `the segment has ${bytes.length} bytes but the next segment's header says ${validEnd} are valid`);
  }
  const decoded = decodeFrames(bytes, 0, validEnd);
  if (decoded.failure !== null) throw corrupt(path, decoded.failure.offset, decoded.failure.message);
  replayFrames(path, sequence, decoded.frames, replay, isStart);
}

/** Replays the last segment, cutting a torn tail; returns what was cut, or null. */
async function replayLastSegment(
  fs: FileSystem,
  path: string,
  sequence: number,
  bytes: Uint8Array,
  replay: LogReplay,
  fsync: boolean,
  isStart: boolean,
): Promise<TornTail | null> {
  const decoded = decodeFrames(bytes, 0, bytes.length);
  const { failure } = decoded;
  if (failure !== null && !isTornFailure(bytes, failure)) throw corrupt(path, failure.offset, failure.message);
  replayFrames(path, sequence, decoded.frames, replay, isStart);
  if (failure === null) return null;
  const file = await fs.openAppend(path, 'never');
  try {
    await file.truncate(failure.offset);
    if (fsync) await file.datasync();
  } finally {
    await file.close();
  }
  return { file: path, offset: failure.offset, bytes: bytes.length - failure.offset };
}

/**
 * A failure at the end of the last segment is a torn write when no whole, checksummed frame
 * follows it. A frame whose checksum holds but whose payload does not parse was written that way:
 * never torn. (A bit flip in the very last frame looks exactly like a torn write and is cut too;
 * it is reported as tornTail, never dropped silently.)
 */
function isTornFailure(bytes: Uint8Array, failure: FrameFailure): boolean {
  return failure.reason !== 'badPayload' && findValidFrameAfter(bytes, failure.offset, bytes.length) === -1;
}

function replayFrames(path: string, sequence: number, frames: readonly DecodedFrame[], replay: LogReplay, isStart: boolean): void {
  if (frames.length === 0) throw corrupt(path, 0, 'the segment has no header');
  const header = checkHeader(frames[0], path, sequence);
  if (!isStart && header.baseIndex > 0) {
    const problem = replay.cross(header.baseIndex, header.baseTerm);
    if (problem !== null) throw corrupt(path, 0, problem);
  }
  for (let i = 1; i < frames.length; i++) {
    const { record, offset } = frames[i];
    if (record.type === 'segmentHeader' || record.type === 'snapshotHeader') throw corrupt(path, offset, `a ${record.type} record in the middle of a segment`);
    const problem = replay.apply(record);
    if (problem !== null) throw corrupt(path, offset, problem);
  }
}

/**
 * Applies records in log order after a base (the snapshot replay starts from, or index 0): the
 * last hard state wins; truncations and overlapping entries cut the suffix; entries the base
 * already holds are skipped (they are committed, the same in every log).
 */
class LogReplay {
  #hardState: HardState = emptyHardState;
  readonly #snapshot: Snapshot | null;
  readonly #base: number;
  /** Entries base + 1 … by position. */
  readonly #entries: Entry[] = [];

  constructor(snapshot: Snapshot | null) {
    this.#snapshot = snapshot;
    this.#base = snapshot?.index ?? 0;
  }

  /** Applies `record`; returns why it cannot apply, or null. */
  apply(record: LogRecord): string | null {
    const base = this.#base;
    switch (record.type) {
      case 'hardState':
        this.#hardState = record.hardState;
        return null;
      case 'truncate':
        if (record.fromIndex <= base) return `a truncation from index ${record.fromIndex} reaches into the snapshot of index ${base}`;
        if (record.fromIndex <= base + this.#entries.length) this.#entries.length = record.fromIndex - base - 1;
        return null;
      case 'entries': {
        if (record.entries.length === 0) return null;
        const first = record.entries[0].index;
        const lastIndex = base + this.#entries.length;
        if (first > lastIndex + 1) return `entries start at index ${first} but the log ends at ${lastIndex}`;
        const skip = Math.max(0, base + 1 - first);
        this.#entries.length = Math.max(0, first - base - 1);
        for (let i = skip; i < record.entries.length; i++) this.#entries.push(record.entries[i]);
        return null;
      }
    }
  }

  /** A later segment starts afresh after the snapshot (index, term): the log replayed so far must hold that entry. */
  cross(index: number, term: number): string | null {
    const held = index === this.#base ? (this.#snapshot?.term ?? 0) : this.#entries[index - this.#base - 1]?.term;
    if (held === term) return null;
    return `the log must reach the snapshot of index ${index} (term ${term}) that this segment continues, but it ${held === undefined ? 'ends before it' : `holds term ${held} there`}`;
  }

  finish(): RecoveredState {
    for (let i = 0; i < this.#entries.length; i++) {
      assert(this.#entries[i].index === this.#base + i + 1, `recovered entry at position ${i} has index ${this.#entries[i].index}`);
    }
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries: this.#entries };
  }
}

function segmentPath(dir: string, sequence: number): string {
  return join(dir, segmentFileName(sequence));
}

function corrupt(file: string, offset: number, why: string): RaftchartError {
  return new RaftchartError(
    'LogCorrupt',
    `the write-ahead log is corrupt in ${file} at byte ${offset}: ${why}. raftchart will not start from a log that may ` +
      'have lost acknowledged records. Keep the folder for diagnosis; restore it from a backup, or move it aside and ' +
      'add this server back as a new member so it catches up from the leader (never just delete it: a server that ' +
      'forgets its vote can break safety).',
    { file, offset },
  );
}
