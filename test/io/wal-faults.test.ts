import { describe, expect, it } from 'vitest';
import { FaultFileSystem, type FaultCall } from '../../src/io/fault-file-system.ts';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';
import { openWal } from '../../src/io/wal.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import { comparable, entries, hardState, replayModel, thrownBy } from './records.ts';

const dir = '/log';

function setUp() {
  const memory = new MemoryFileSystem();
  return { memory, fault: new FaultFileSystem(memory) };
}

async function reopen(fs: FaultFileSystem) {
  const opened = await openWal(fs, dir);
  await opened.wal.close();
  return opened;
}

/** Calls after the first injected failure that wrote to, synced or cut `path`: there must be none. */
function touchesAfterFailure(calls: readonly FaultCall[], path: string): FaultCall[] {
  const failedAt = calls.findIndex((call) => call.injected);
  expect(failedAt).toBeGreaterThanOrEqual(0);
  return calls
    .slice(failedAt + 1)
    .filter((call) => call.path === path && (call.operation === 'write' || call.operation === 'datasync' || call.operation === 'truncate'));
}

describe('write-ahead log under injected faults', () => {
  it('recovers everything after a transient EIO on write and a rewrite, never touching the failed file again', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir);
    const confirmed: LogRecord[] = [hardState(1, 'n1'), entries(1, 3)];
    const unconfirmed: LogRecord[] = [hardState(2, 'n2'), entries(4, 6, 2)];
    await wal.write(confirmed);
    await wal.sync();
    const failedFile = wal.position.segment;
    fault.failOn({ operation: 'write', code: 'EIO', nth: 1, bytesWrittenBeforeFailure: 11 });

    await expect(wal.write(unconfirmed)).rejects.toMatchObject({ code: 'EIO' });
    await wal.rewrite(unconfirmed);
    await wal.close();
    // No crash: the failed file still holds the partial write, which recovery must ignore.
    const { recovered } = await reopen(fault);

    expect(comparable(recovered)).toEqual(comparable(replayModel([...confirmed, ...unconfirmed])));
    expect(touchesAfterFailure(fault.calls, failedFile)).toEqual([]);
  });

  it('recovers everything after a transient EIO on fdatasync and a rewrite, never syncing the failed file again', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir);
    const confirmed: LogRecord[] = [entries(1, 2)];
    const unconfirmed: LogRecord[] = [entries(3, 5), hardState(3, 'n3')];
    await wal.write(confirmed);
    await wal.sync();
    const failedFile = wal.position.segment;
    fault.failOn({ operation: 'datasync', code: 'EIO', nth: 1 });

    await wal.write(unconfirmed);
    await expect(wal.sync()).rejects.toMatchObject({ code: 'EIO' });
    await wal.rewrite(unconfirmed);
    fault.crash();
    const { recovered } = await reopen(fault);

    expect(comparable(recovered)).toEqual(comparable(replayModel([...confirmed, ...unconfirmed])));
    expect(touchesAfterFailure(fault.calls, failedFile)).toEqual([]);
  });

  it('refuses write and sync after a failure until rewrite succeeds', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir);
    fault.failOn({ operation: 'write', code: 'EIO', nth: 1 });
    await expect(wal.write([entries(1, 1)])).rejects.toMatchObject({ code: 'EIO' });

    await expect(wal.sync()).rejects.toThrow(/rewrite/);
    await wal.rewrite([entries(1, 1)]);

    await expect(wal.write([entries(2, 2)])).resolves.toBeUndefined();
  });

  it('survives a rewrite that itself fails, by rewriting again', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir);
    await wal.write([entries(1, 1)]);
    await wal.sync();
    fault.failOn({ operation: 'datasync', code: 'EIO', nth: 1 });
    await wal.write([entries(2, 3)]);
    await expect(wal.sync()).rejects.toMatchObject({ code: 'EIO' });
    fault.failOn({ operation: 'datasync', code: 'EIO', nth: 1 });

    await expect(wal.rewrite([entries(2, 3)])).rejects.toMatchObject({ code: 'EIO' });
    await wal.rewrite([entries(2, 3)]);
    fault.crash();
    const { recovered } = await reopen(fault);

    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  it('never replays a record twice when a failed batch near the segment limit is rewritten', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir, { segmentBytesMax: 1024 });
    let index = 0;
    while (wal.position.writtenBytes < 700) {
      index++;
      await wal.write([entries(index, index)]);
      await wal.sync();
    }
    // Replayed twice, this batch would leave a gap: entries after a truncation below them.
    const first: LogRecord[] = [entries(index + 1, index + 1), { type: 'truncate', fromIndex: index - 1 }];
    const second: LogRecord[] = [{ type: 'entries', entries: [{ index: index - 1, term: 2, kind: 'command', command: new Uint8Array(400) }] }];
    await wal.write(first);
    fault.failOn({ operation: 'write', code: 'EIO', nth: 1, path: (path) => path.endsWith('.wal') });

    await expect(wal.write(second)).rejects.toMatchObject({ code: 'EIO' });
    await wal.rewrite([...first, ...second]);
    await wal.close();
    const { recovered } = await reopen(fault);

    expect(recovered.entries).toHaveLength(index - 1);
    expect(recovered.entries[index - 2].term).toBe(2);
  });

  it('cuts a torn tail, reports it, and appends after the cut', async () => {
    const { memory, fault } = setUp();
    const { wal } = await openWal(fault, dir);
    await wal.write([entries(1, 2)]);
    await wal.sync();
    const { segment, writtenBytes } = wal.position;
    await wal.write([entries(3, 4)]);

    fault.crash({ tornWriteBytesKept: 13 });
    const reopened = await openWal(fault, dir);
    await reopened.wal.write([entries(3, 3, 5)]);
    await reopened.wal.sync();
    await reopened.wal.close();
    const { recovered } = await reopen(fault);

    expect(reopened.tornTail).toEqual({ file: segment, offset: writtenBytes, bytes: 13 });
    expect(reopened.recovered.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(recovered.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 5]]);
    expect(memory.sizeOf(segment)).toBeGreaterThan(writtenBytes);
  });

  it('refuses a log with a bit flipped mid-log with LogCorrupt naming the file and byte offset', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir);
    await wal.write([entries(1, 1)]);
    await wal.sync();
    const { segment, writtenBytes: damagedFrame } = wal.position;
    await wal.write([entries(2, 2)]);
    await wal.write([entries(3, 3)]);
    await wal.sync();
    await wal.close();

    await fault.flipBit(segment, damagedFrame + 12, 2);
    const error = await thrownBy(openWal(fault, dir));

    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect(error).toMatchObject({ details: { file: segment, offset: damagedFrame } });
    expect((error as Error).message).toContain(`${segment} at byte ${damagedFrame}`);
    expect((error as Error).message).toMatch(/restore it from a backup/);
  });

  it('gives a second opener LogLocked while the first holds the folder, and lets it in after close', async () => {
    const { fault } = setUp();
    const first = await openWal(fault, dir);

    const error = await thrownBy(openWal(fault, dir));
    await first.wal.close();

    expect(hasErrorCode(error, 'LogLocked')).toBe(true);
    expect((error as Error).message).toContain(String(process.pid));
    await expect(reopen(fault)).resolves.toBeDefined();
  });

  it('takes over a lock whose holder is dead, or any lock with breakLock', async () => {
    const { fault } = setUp();
    await openWal(fault, dir, { holder: { pid: 4_000_000, startTimeTicks: 1, bootId: 'a-boot' } });

    const stale = await openWal(fault, dir, { isHolderAlive: (holder) => holder.pid !== 4_000_000 });
    const broken = await openWal(fault, dir, { breakLock: true });
    await stale.wal.close();

    // The stale holder's close must not remove the lock breakLock handed to someone else.
    expect(hasErrorCode(await thrownBy(openWal(fault, dir)), 'LogLocked')).toBe(true);
    await broken.wal.close();
  });

  it('surfaces ENOSPC with code ENOSPC, and recovers once space is back', async () => {
    const { fault } = setUp();
    const { wal } = await openWal(fault, dir);
    fault.failOn({ operation: 'write', code: 'ENOSPC' });

    await expect(wal.write([entries(1, 1)])).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(wal.rewrite([entries(1, 1)])).rejects.toMatchObject({ code: 'ENOSPC' });
    fault.clearFaults();
    await wal.rewrite([entries(1, 1)]);
    fault.crash();
    const { recovered } = await reopen(fault);

    expect(recovered.entries.map((e) => e.index)).toEqual([1]);
  });

  it('waits out a slow fdatasync before resolving sync', async () => {
    const slept: number[] = [];
    const fault = new FaultFileSystem(new MemoryFileSystem(), { sleep: async (ms) => void slept.push(ms) });
    const { wal } = await openWal(fault, dir);
    fault.slowDatasync({ delayMs: 250, path: (path) => path.endsWith('.wal') });

    await wal.write([entries(1, 1)]);
    await wal.sync();

    expect(slept).toEqual([250]);
  });
});
