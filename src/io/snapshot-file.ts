import { join } from 'node:path';
import { crc32c } from '../core/crc32c.ts';
import type { Snapshot } from '../protocol/types.ts';
import { closeQuietly, unlinkIfPresent, type FileSystem } from './file-system.ts';
import { decodeFrameAt, encodeRecords } from './record-codec.ts';

/**
 * Snapshot files (paper §7): `<dir>/NNNNNNNNNNNNNNNN.snap`, named by the snapshot's last included
 * index (a server snapshots each index at most once: a snapshot holds committed entries only).
 * A file is one checksummed snapshotHeader frame (record-codec.ts: index, term, servers, the data's
 * length and CRC-32C) followed by the state machine's bytes.
 */

const indexDigits = 16;
const snapshotNamePattern = /^(\d{16})\.snap$/;
const temporaryNamePattern = /^\d{16}\.snap\.tmp$/;

/** 'NNNNNNNNNNNNNNNN.snap' for a snapshot of last included index `index` >= 1. */
export function snapshotFileName(index: number): string {
  return `${String(index).padStart(indexDigits, '0')}.snap`;
}

/** The index a snapshot file name carries, or null when `name` is not one. */
export function parseSnapshotFileName(name: string): number | null {
  const match = snapshotNamePattern.exec(name);
  return match === null ? null : Number(match[1]);
}

/** True for the temporary file a snapshot is written in before its rename. */
export function isTemporarySnapshotName(name: string): boolean {
  return temporaryNamePattern.test(name);
}

/** The header frame a snapshot file starts with. */
function headerOf(snapshot: Snapshot): Uint8Array {
  return encodeRecords([
    {
      type: 'snapshotHeader',
      index: snapshot.index,
      term: snapshot.term,
      servers: snapshot.servers,
      learners: snapshot.learners ?? [],
      dataBytes: snapshot.data.byteLength,
      dataChecksum: crc32c(snapshot.data),
    },
  ]);
}

/**
 * Writes `snapshot` to `dir` durably and returns its path: a fresh temporary file, written (one
 * writev: header and data), fdatasynced, renamed into place and the folder synced. So a file with
 * a snapshot's name is always whole, and a failed attempt leaves only a temporary file (removed at
 * the next open). With `fsync` false nothing is synced.
 */
export async function writeSnapshotFile(fs: FileSystem, dir: string, snapshot: Snapshot, fsync: boolean): Promise<string> {
  const path = join(dir, snapshotFileName(snapshot.index));
  const temporary = `${path}.tmp`;
  // Never reuse an earlier attempt's file: its inode may carry a failed writeback.
  await unlinkIfPresent(fs, temporary);
  const file = await fs.openAppend(temporary, 'exclusive');
  try {
    await file.append([headerOf(snapshot), snapshot.data]);
    if (fsync) await file.datasync();
  } catch (error) {
    await closeQuietly(file);
    throw error;
  }
  await file.close();
  await fs.rename(temporary, path);
  if (fsync) await fs.syncDir(dir);
  return path;
}

/**
 * The snapshot held in a file's bytes, or why it cannot be used: a damaged header, a length
 * that disagrees, a checksum that does not match, or a name that disagrees with the header.
 */
export function decodeSnapshotFile(bytes: Uint8Array, expectedIndex: number): Snapshot | { readonly damage: string } {
  const decoded = decodeFrameAt(bytes, 0, bytes.length);
  if (!decoded.ok) return { damage: `its header is damaged: ${decoded.failure.message}` };
  const { record, end } = decoded.frame;
  if (record.type !== 'snapshotHeader') return { damage: `it starts with a ${record.type} record, not a snapshot header` };
  if (record.index !== expectedIndex) return { damage: `its header names index ${record.index}` };
  if (bytes.length - end !== record.dataBytes) return { damage: `it holds ${bytes.length - end} bytes of data, its header says ${record.dataBytes}` };
  const data = bytes.subarray(end);
  if (crc32c(data) !== record.dataChecksum) return { damage: 'its data does not match its checksum' };
  return { index: record.index, term: record.term, servers: record.servers, learners: record.learners, data };
}
