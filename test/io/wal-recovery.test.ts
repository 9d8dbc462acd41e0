import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';
import { encodedBytes, encodeRecords } from '../../src/io/record-codec.ts';
import { openWal } from '../../src/io/wal.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import { comparable, entries, replayModel, stepArbitrary, validRecords, thrownBy } from './records.ts';

const dir = '/log';

interface WrittenRecord {
  readonly record: LogRecord;
  readonly segment: string;
  /** Where the record's frame ends in its segment. */
  readonly end: number;
}

/** Writes each batch record by record (to learn every frame's end), syncing after each batch. */
async function buildLog(batches: readonly LogRecord[][], segmentBytesMax: number) {
  const fs = new MemoryFileSystem();
  const { wal } = await openWal(fs, dir, { segmentBytesMax });
  const written: WrittenRecord[] = [];
  for (const batch of batches) {
    for (const record of batch) {
      await wal.write([record]);
      written.push({ record, segment: wal.position.segment, end: wal.position.writtenBytes });
    }
    await wal.sync();
  }
  await wal.close();
  const files = new Map<string, Uint8Array>();
  for (const name of await fs.readdir(dir)) files.set(`${dir}/${name}`, await fs.readFile(`${dir}/${name}`));
  return { fs, written, files };
}

/** A fresh, durable memory file system holding `files`. */
async function fileSystemWith(files: ReadonlyMap<string, Uint8Array>): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem();
  await fs.mkdirp(dir);
  for (const [path, content] of files) {
    const file = await fs.openAppend(path, 'exclusive');
    await file.append([content]);
    await file.datasync();
    await file.close();
  }
  await fs.syncDir(dir);
  return fs;
}

const segment = (sequence: number): string => `${dir}/${String(sequence).padStart(16, '0')}.wal`;

describe('write-ahead log recovery', () => {
  it('recovers exactly the records whose frames end at or before any cut of the last segment, and reports a cut frame as a torn tail', async () => {
    const batchesArbitrary = fc.array(fc.array(stepArbitrary, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(batchesArbitrary, fc.boolean(), async (stepBatches, smallSegments) => {
        const batches: LogRecord[][] = [];
        let lastIndex = 0;
        for (const steps of stepBatches) {
          const batch = validRecords(steps, lastIndex);
          batches.push(batch);
          lastIndex = replayModel(batches.flat()).entries.length;
        }
        const { written, files } = await buildLog(batches, smallSegments ? 1024 : 1 << 20);
        const last = [...files.keys()].filter((path) => path.endsWith('.wal')).sort().at(-1)!;
        const lastBytes = files.get(last)!;
        const inLast = written.filter((w) => w.segment === last);
        const headerEnd = inLast.length === 0 ? lastBytes.length : inLast[0].end - encodedBytes([inLast[0].record]);
        const boundaries = [0, headerEnd, ...inLast.map((w) => w.end)];

        for (let k = 0; k <= lastBytes.length; k++) {
          const fs = await fileSystemWith(new Map([...files, [last, lastBytes.subarray(0, k)]]));
          const { wal, recovered, tornTail } = await openWal(fs, dir);
          await wal.close();
          const survivors = written.filter((w) => w.segment !== last || w.end <= k).map((w) => w.record);
          const boundary = Math.max(...boundaries.filter((b) => b <= k));

          expect(comparable(recovered)).toEqual(comparable(replayModel(survivors)));
          expect(tornTail).toEqual(k === boundary ? null : { file: last, offset: boundary, bytes: k - boundary });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('cuts a zero-filled tail (a file system that extended the file but not its data) as torn', async () => {
    const { files } = await buildLog([[entries(1, 2)]], 1 << 20);
    const original = files.get(segment(1))!;
    const padded = new Uint8Array(original.length + 512);
    padded.set(original);
    const fs = await fileSystemWith(new Map([[segment(1), padded]]));

    const { wal, recovered, tornTail } = await openWal(fs, dir);
    await wal.close();

    expect(recovered.entries).toHaveLength(2);
    expect(tornTail).toEqual({ file: segment(1), offset: original.length, bytes: 512 });
    expect(fs.sizeOf(segment(1))).toBe(original.length);
  });

  it('refuses a bad frame followed by a valid one in the last segment: that is damage, not a torn write', async () => {
    const { written, files } = await buildLog([[entries(1, 1), entries(2, 2), entries(3, 3)]], 1 << 20);
    const bytes = files.get(segment(1))!;
    const damaged = written[1].end - 1;
    bytes[damaged] ^= 0x40;
    const fs = await fileSystemWith(files);

    const error = await thrownBy(openWal(fs, dir));

    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect(error).toMatchObject({ details: { file: segment(1), offset: written[0].end } });
  });

  it('treats a flipped bit in the very last frame like a torn write, and reports it', async () => {
    const { written, files } = await buildLog([[entries(1, 1), entries(2, 2)]], 1 << 20);
    files.get(segment(1))![written[1].end - 1] ^= 0x01;
    const fs = await fileSystemWith(files);

    const { wal, recovered, tornTail } = await openWal(fs, dir);
    await wal.close();

    expect(recovered.entries).toHaveLength(1);
    expect(tornTail).toMatchObject({ offset: written[0].end });
  });

  it('refuses damage at the end of a segment that is not the last, since it was synced before its successor began', async () => {
    const batches = Array.from({ length: 40 }, (_, i) => [entries(i + 1, i + 1)]);
    const { written, files } = await buildLog(batches, 1024);
    const lastOfFirst = written.filter((w) => w.segment === segment(1)).at(-1)!;
    files.get(segment(1))![lastOfFirst.end - 1] ^= 0x01;
    const fs = await fileSystemWith(files);

    const error = await thrownBy(openWal(fs, dir));

    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect((error as { details: { file: string } }).details.file).toBe(segment(1));
  });

  it('refuses a log with a missing segment, naming it', async () => {
    const batches = Array.from({ length: 60 }, (_, i) => [entries(i + 1, i + 1)]);
    const { files } = await buildLog(batches, 1024);
    files.delete(segment(2));
    const fs = await fileSystemWith(files);

    const error = await thrownBy(openWal(fs, dir));

    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect((error as Error).message).toContain(segment(2));
  });

  it('refuses a segment shorter than its successor says it is', async () => {
    const batches = Array.from({ length: 40 }, (_, i) => [entries(i + 1, i + 1)]);
    const { files } = await buildLog(batches, 1024);
    const first = files.get(segment(1))!;
    files.set(segment(1), first.subarray(0, first.length - 3));
    const fs = await fileSystemWith(files);

    const error = await thrownBy(openWal(fs, dir));

    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect(error).toMatchObject({ details: { file: segment(1), offset: first.length - 3 } });
  });

  it('refuses a valid-checksum frame whose entries leave a gap in the log', async () => {
    const { files } = await buildLog([[entries(1, 2)]], 1 << 20);
    const first = files.get(segment(1))!;
    const gap = encodeRecords([entries(5, 5)]);
    const withGap = new Uint8Array(first.length + gap.length);
    withGap.set(first);
    withGap.set(gap, first.length);
    const fs = await fileSystemWith(new Map([[segment(1), withGap]]));

    const error = await thrownBy(openWal(fs, dir));

    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect(error).toMatchObject({ details: { offset: first.length } });
  });

  it('removes the temporary file of a segment creation a crash interrupted', async () => {
    const { files } = await buildLog([[entries(1, 1)]], 1 << 20);
    files.set(`${segment(2)}.tmp`, new Uint8Array([1, 2, 3]));
    const fs = await fileSystemWith(files);

    const { wal, recovered } = await openWal(fs, dir);
    await wal.close();

    expect(recovered.entries).toHaveLength(1);
    expect(await fs.readdir(dir)).toEqual(['0000000000000001.wal']);
  });
});
