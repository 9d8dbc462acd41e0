import { join } from 'node:path';
import { assert } from '../core/assert.ts';
import { RaftchartError } from '../protocol/errors.ts';
import type { LogRecord } from '../protocol/records.ts';
import { emptyHardState, type Entry, type HardState, type RecoveredState } from '../protocol/types.ts';
import type { FileSystem } from './file-system.ts';
import { decodeFrameAt, decodeFrames, findValidFrameAfter, type DecodedFrame, type FrameFailure, type SegmentHeaderRecord } from './record-codec.ts';
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
}

/**
 * Rebuilds the log from the segments in `dir` and repairs what a crash may leave behind.
 *
 * - Segments must be 1..n without a gap. Each begins with a header; segment i is read only up
 *   to the length segment i+1's header names (`previousSegmentValidBytes`), and every frame in
 *   that range must be whole with a good checksum.
 * - In the last segment, a bad frame with no valid frame anywhere after it is a torn write: it is
 *   cut (ftruncate + fdatasync) and reported as `tornTail`. A last segment whose header itself is
 *   torn holds no record and is removed.
 * - Anything else is damage: RaftchartError('LogCorrupt') naming the file and byte offset. Recovery
 *   never drops a record that may have been acknowledged.
 * - Temporary files of interrupted segment creations are removed.
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

  const replay = new LogReplay();
  let bytes = sequences.length <= 1 ? lastBytes : await fs.readFile(segmentPath(dir, sequences[0]));
  let lastSegment: RecoveryResult['lastSegment'] = null;
  for (let i = 0; i < sequences.length; i++) {
    assert(bytes !== null, 'segment bytes read ahead');
    const path = segmentPath(dir, sequences[i]);
    const isLast = i === sequences.length - 1;
    if (isLast) {
      const cut = await replayLastSegment(fs, path, sequences[i], bytes, replay, fsync);
      tornTail ??= cut;
      lastSegment = { sequence: sequences[i], path, validBytes: cut === null ? bytes.length : cut.offset };
    } else {
      const nextPath = segmentPath(dir, sequences[i + 1]);
      const next = i + 1 === sequences.length - 1 ? lastBytes! : await fs.readFile(nextPath);
      const validEnd = readHeader(next, nextPath, sequences[i + 1]).previousSegmentValidBytes;
      replaySegment(path, sequences[i], bytes, validEnd, replay);
      bytes = next;
    }
  }
  return { recovered: replay.finish(), tornTail, lastSegment };
}

async function removeTemporaries(fs: FileSystem, dir: string, names: readonly string[]): Promise<boolean> {
  let removed = false;
  for (const name of names) {
    if (!isTemporarySegmentName(name)) continue;
    await fs.unlink(join(dir, name));
    removed = true;
  }
  return removed;
}

/** The segment sequence numbers in `names`, ascending; they must be 1..n. */
function listSegments(dir: string, names: readonly string[]): number[] {
  const sequences: number[] = [];
  for (const name of names) {
    const sequence = parseSegmentFileName(name);
    if (sequence !== null) sequences.push(sequence);
  }
  sequences.sort((a, b) => a - b);
  for (let i = 0; i < sequences.length; i++) {
    if (sequences[i] !== i + 1) {
      const missing = join(dir, segmentFileName(i + 1));
      throw corrupt(missing, 0, `segment ${missing} is missing (found ${sequences[i]} after ${i})`);
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
  if (sequence === 1 && record.previousSegmentValidBytes !== 0) {
    throw corrupt(path, 0, `the first segment's header claims ${record.previousSegmentValidBytes} bytes of a previous segment`);
  }
  return record;
}

/** Replays a segment that has a successor: bytes [0, validEnd) must all be good frames. */
function replaySegment(path: string, sequence: number, bytes: Uint8Array, validEnd: number, replay: LogReplay): void {
  if (validEnd > bytes.length) {
    throw corrupt(path, bytes.length, `the segment has ${bytes.length} bytes but the next segment's header says ${validEnd} are valid`);
  }
  const decoded = decodeFrames(bytes, 0, validEnd);
  if (decoded.failure !== null) throw corrupt(path, decoded.failure.offset, decoded.failure.message);
  replayFrames(path, sequence, decoded.frames, replay);
}

/** Replays the last segment, cutting a torn tail; returns what was cut, or null. */
async function replayLastSegment(
  fs: FileSystem,
  path: string,
  sequence: number,
  bytes: Uint8Array,
  replay: LogReplay,
  fsync: boolean,
): Promise<TornTail | null> {
  const decoded = decodeFrames(bytes, 0, bytes.length);
  const { failure } = decoded;
  if (failure !== null && !isTornFailure(bytes, failure)) throw corrupt(path, failure.offset, failure.message);
  replayFrames(path, sequence, decoded.frames, replay);
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

function replayFrames(path: string, sequence: number, frames: readonly DecodedFrame[], replay: LogReplay): void {
  if (frames.length === 0) throw corrupt(path, 0, 'the segment has no header');
  checkHeader(frames[0], path, sequence);
  for (let i = 1; i < frames.length; i++) {
    const { record, offset } = frames[i];
    if (record.type === 'segmentHeader') throw corrupt(path, offset, 'a segment header in the middle of a segment');
    const problem = replay.apply(record);
    if (problem !== null) throw corrupt(path, offset, problem);
  }
}

/** Applies records in log order: the last hard state wins; truncations and overlapping entries cut the suffix. */
class LogReplay {
  #hardState: HardState = emptyHardState;
  readonly #entries: Entry[] = [];

  /** Applies `record`; returns why it cannot apply, or null. */
  apply(record: LogRecord): string | null {
    switch (record.type) {
      case 'hardState':
        this.#hardState = record.hardState;
        return null;
      case 'truncate':
        if (record.fromIndex <= this.#entries.length) this.#entries.length = record.fromIndex - 1;
        return null;
      case 'entries': {
        if (record.entries.length === 0) return null;
        const first = record.entries[0].index;
        if (first > this.#entries.length + 1) return `entries start at index ${first} but the log ends at ${this.#entries.length}`;
        this.#entries.length = first - 1;
        for (const entry of record.entries) this.#entries.push(entry);
        return null;
      }
    }
  }

  finish(): RecoveredState {
    for (let i = 0; i < this.#entries.length; i++) {
      assert(this.#entries[i].index === i + 1, `recovered entry at position ${i} has index ${this.#entries[i].index}`);
    }
    return { hardState: this.#hardState, entries: this.#entries };
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
