import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../../src/io/fault-file-system.ts';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';
import { openWal } from '../../src/io/wal.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import { comparable, entries, hardState, replayModel } from './records.ts';

const dir = '/log';

async function reopen(fs: MemoryFileSystem | FaultFileSystem) {
  const opened = await openWal(fs, dir);
  await opened.wal.close();
  return opened;
}

describe('write-ahead log', () => {
  it('counts the syncs that confirmed new bytes (the inspector\'s sync rate), not the empty ones', async () => {
    const fs = new MemoryFileSystem();
    const { wal } = await openWal(fs, dir);
    expect(wal.confirmations).toBe(0);
    await wal.write([entries(1, 2)]);
    await wal.sync();
    await wal.sync();
    await wal.write([hardState(1, 'n1')]);
    await wal.sync();
    expect(wal.confirmations).toBe(2);
    await wal.close();
  });

  it('recovers hard state and entries written and synced, after a crash', async () => {
    const fs = new MemoryFileSystem();
    const { wal, recovered } = await openWal(fs, dir);
    const records: LogRecord[] = [hardState(1, 'n1'), entries(1, 3), hardState(2, null), entries(4, 5, 2)];
    await wal.write(records.slice(0, 2));
    await wal.write(records.slice(2));
    await wal.sync();

    fs.crash();
    const { recovered: after, tornTail } = await reopen(fs);

    expect(recovered).toEqual({ hardState: { term: 0, votedFor: null }, snapshot: null, entries: [] });
    expect(comparable(after)).toEqual(comparable(replayModel(records)));
    expect(tornTail).toBeNull();
  });

  it('loses what was written but never synced, and only that, at a crash', async () => {
    const fs = new MemoryFileSystem();
    const { wal } = await openWal(fs, dir);
    await wal.write([entries(1, 2)]);
    await wal.sync();
    await wal.write([entries(3, 4)]);

    fs.crash();
    const { recovered } = await reopen(fs);

    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2]);
  });

  it('replays a truncation as a record: the conflicting suffix is gone, the entries before stay (§5.3)', async () => {
    const fs = new MemoryFileSystem();
    const { wal } = await openWal(fs, dir);
    const records: LogRecord[] = [entries(1, 5, 1), { type: 'truncate', fromIndex: 3 }, entries(3, 4, 2)];
    await wal.write(records);
    await wal.sync();
    await wal.close();

    const { recovered } = await reopen(fs);

    expect(recovered.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 2], [4, 2]]);
  });

  it('rolls to a new segment when the current one would pass segmentBytesMax, and reads them all back', async () => {
    const fs = new MemoryFileSystem();
    const { wal } = await openWal(fs, dir, { segmentBytesMax: 1024 });
    const records: LogRecord[] = [];
    for (let index = 1; index <= 60; index++) {
      const record = entries(index, index);
      records.push(record);
      await wal.write([record]);
      await wal.sync();
    }
    await wal.close();

    fs.crash();
    const { recovered } = await reopen(fs);
    const segments = (await fs.readdir(dir)).filter((name) => name.endsWith('.wal'));

    expect(segments.length).toBeGreaterThan(3);
    expect(segments[0]).toBe('0000000000000001.wal');
    for (const name of segments) expect(fs.sizeOf(`${dir}/${name}`)).toBeLessThanOrEqual(1024);
    expect(comparable(recovered)).toEqual(comparable(replayModel(records)));
  });

  it('continues appending to the last segment after a reopen', async () => {
    const fs = new MemoryFileSystem();
    const first = await openWal(fs, dir);
    await first.wal.write([entries(1, 1)]);
    await first.wal.sync();
    await first.wal.close();

    const second = await openWal(fs, dir);
    await second.wal.write([entries(2, 2)]);
    await second.wal.sync();
    await second.wal.close();
    fs.crash();
    const { recovered } = await reopen(fs);

    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(await fs.readdir(dir)).toEqual(['0000000000000001.wal']);
  });

  it('makes what it recovered durable before returning it, even bytes its crashed predecessor never synced', async () => {
    const fs = new MemoryFileSystem();
    const first = await openWal(fs, dir);
    await first.wal.write([entries(1, 1)]);
    await first.wal.sync();
    await first.wal.write([entries(2, 2)]);

    // The process dies (its page cache survives), a new one starts from what it finds, then the machine loses power.
    const second = await openWal(fs, dir, { breakLock: true });
    fs.crash();
    const { recovered } = await reopen(fs);

    expect(second.recovered.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2]);
  });

  it('makes no fdatasync and no folder sync with fsync: false, yet resolves sync()', async () => {
    const fault = new FaultFileSystem(new MemoryFileSystem());
    const { wal } = await openWal(fault, dir, { fsync: false });
    await wal.write([entries(1, 1)]);

    await wal.sync();
    await wal.close();

    expect(fault.calls.filter((call) => call.operation === 'datasync' || call.operation === 'syncDir')).toEqual([]);
  });

  it('costs one write and one fdatasync per batch', async () => {
    const fault = new FaultFileSystem(new MemoryFileSystem());
    const { wal } = await openWal(fault, dir);
    const batch: LogRecord[] = [];
    for (let index = 1; index <= 256; index++) batch.push(entries(index, index));
    fault.clearCalls();

    await wal.write(batch);
    await wal.sync();

    expect(fault.calls.map((call) => call.operation)).toEqual(['write', 'datasync']);
  });

  it('skips the fdatasync when nothing was written since the last one', async () => {
    const fault = new FaultFileSystem(new MemoryFileSystem());
    const { wal } = await openWal(fault, dir);
    await wal.write([entries(1, 1)]);
    await wal.sync();
    fault.clearCalls();

    await wal.sync();

    expect(fault.calls).toEqual([]);
  });

  it('runs calls one at a time in call order even when they are not awaited', async () => {
    const fs = new MemoryFileSystem();
    const { wal } = await openWal(fs, dir);

    await Promise.all([wal.write([entries(1, 1)]), wal.write([entries(2, 2)]), wal.sync(), wal.write([entries(3, 3)]), wal.sync()]);
    fs.crash();
    const { recovered } = await reopen(fs);

    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  it('asserts against an entries record that would leave a gap in the log', async () => {
    const { wal } = await openWal(new MemoryFileSystem(), dir);
    await wal.write([entries(1, 2)]);

    await expect(wal.write([entries(4, 4)])).rejects.toThrow(/gap/);
  });

  it('refuses calls after close', async () => {
    const { wal } = await openWal(new MemoryFileSystem(), dir);
    await wal.close();

    await expect(wal.write([entries(1, 1)])).rejects.toThrow(/closed/);
  });

  it('rejects a segmentBytesMax below the minimum with InvalidOptions', async () => {
    let thrown: unknown;
    try {
      await openWal(new MemoryFileSystem(), dir, { segmentBytesMax: 10 });
    } catch (error) {
      thrown = error;
    }

    expect(hasErrorCode(thrown, 'InvalidOptions')).toBe(true);
  });
});
