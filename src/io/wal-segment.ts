import { join } from 'node:path';
import { assert } from '../core/assert.ts';
import { closeQuietly, unlinkIfPresent, type AppendableFile, type FileSystem } from './file-system.ts';

/** Segment files are named by their sequence number, zero-padded so that names sort like numbers. */
const sequenceDigits = 16;
const segmentNamePattern = /^(\d{16})\.wal$/;
const temporaryNamePattern = /^\d{16}\.wal\.tmp$/;

/** An open segment the WAL appends to. */
export interface OpenSegment {
  readonly sequence: number;
  readonly path: string;
  readonly file: AppendableFile;
}

/** 'NNNNNNNNNNNNNNNN.wal' for `sequence` >= 1. */
export function segmentFileName(sequence: number): string {
  assert(Number.isSafeInteger(sequence) && sequence >= 1, `segment sequence ${sequence} must be an integer >= 1`);
  return `${String(sequence).padStart(sequenceDigits, '0')}.wal`;
}

/** The sequence number a segment file name carries, or null when `name` is not a segment. */
export function parseSegmentFileName(name: string): number | null {
  const match = segmentNamePattern.exec(name);
  return match === null ? null : Number(match[1]);
}

/** True for the temporary file a segment is built in before its rename. */
export function isTemporarySegmentName(name: string): boolean {
  return temporaryNamePattern.test(name);
}

/**
 * Creates segment `sequence` holding `bytes` (its header, and for a rewrite the records), durably:
 * written to a fresh temporary file, fdatasynced, renamed into place and the folder synced. So a
 * file with a segment's name always starts with a whole header, and a failed attempt leaves only
 * a temporary file (removed at the next open) or a segment that replays correctly. A segment
 * already at that name (an earlier failed attempt) is replaced. With `fsync` false nothing is synced.
 */
export async function createSegment(fs: FileSystem, dir: string, sequence: number, bytes: Uint8Array, fsync: boolean): Promise<OpenSegment> {
  const path = join(dir, segmentFileName(sequence));
  const temporary = `${path}.tmp`;
  // Never reuse an earlier attempt's file: its inode may carry a failed writeback.
  await unlinkIfPresent(fs, temporary);
  const file = await fs.openAppend(temporary, 'exclusive');
  try {
    await file.append([bytes]);
    if (fsync) await file.datasync();
    await fs.rename(temporary, path);
    if (fsync) await fs.syncDir(dir);
  } catch (error) {
    await closeQuietly(file);
    throw error;
  }
  return { sequence, path, file };
}
