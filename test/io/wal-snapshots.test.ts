import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AppendableFile, CreateMode, FileSystem } from '../../src/io/file-system.ts';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';
import { snapshotFileName, writeSnapshotFile } from '../../src/io/snapshot-file.ts';
import { openWal, type Wal } from '../../src/io/wal.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import type { Entry, HardState, Snapshot } from '../../src/protocol/types.ts';
import { entries, entry, hardState, thrownBy } from './records.ts';

const dir = '/log';
const servers = ['n1', 'n2', 'n3'];

function snapshotAt(index: number, term = 1): Snapshot {
  return { index, term, servers, data: new TextEncoder().encode(`state after ${index}`) };
}

function run(first: number, last: number, term = 1): Entry[] {
  return (entries(first, last, term) as Extract<LogRecord, { type: 'entries' }>).entries as Entry[];
}

const vote: HardState = { term: 1, votedFor: 'n1' };

/** A log of entries 1..last, synced. */
async function logThrough(fs: FileSystem, last: number): Promise<Wal> {
  const { wal } = await openWal(fs, dir);
  await wal.write([hardState(1, 'n1'), entries(1, last)]);
  await wal.sync();
  return wal;
}

/** A log of 1..20 with snapshots at 5 and at 15, each followed by the log after it. */
async function twoSnapshots(fs: FileSystem): Promise<Wal> {
  const wal = await logThrough(fs, 10);
  await wal.installSnapshot(snapshotAt(5), vote, run(6, 10));
  await wal.write([entries(11, 20)]);
  await wal.sync();
  await wal.installSnapshot(snapshotAt(15), vote, run(16, 20));
  return wal;
}

async function reopen(fs: FileSystem) {
  const opened = await openWal(fs, dir);
  await opened.wal.close();
  return opened;
}

function shape(recovered: { snapshot?: Snapshot | null; entries: readonly Entry[]; hardState: HardState }) {
  return {
    snapshot: recovered.snapshot === null || recovered.snapshot === undefined ? null : { index: recovered.snapshot.index, data: new TextDecoder().decode(recovered.snapshot.data) },
    first: recovered.entries[0]?.index ?? null,
    last: recovered.entries.at(-1)?.index ?? null,
    hardState: recovered.hardState,
  };
}

/**
 * A file system that loses power at call number `crashAt` (counting every call that changes
 * something): that call and all after it throw, and the memory below then drops what was unsynced.
 */
class PowerCut implements FileSystem {
  calls = 0;
  constructor(
    readonly memory: MemoryFileSystem,
    readonly crashAt: number,
  ) {}
  #tick(): void {
    if (++this.calls >= this.crashAt) throw Object.assign(new Error('power cut'), { code: 'EIO' });
  }
  async openAppend(path: string, create: CreateMode): Promise<AppendableFile> {
    this.#tick();
    const file = await this.memory.openAppend(path, create);
    return {
      append: async (buffers) => (this.#tick(), file.append(buffers)),
      datasync: async () => (this.#tick(), file.datasync()),
      truncate: async (length) => (this.#tick(), file.truncate(length)),
      close: async () => file.close(),
    };
  }
  async createExclusive(path: string, data: Uint8Array) {
    this.#tick();
    return this.memory.createExclusive(path, data);
  }
  readFile = (path: string) => this.memory.readFile(path);
  readdir = (path: string) => this.memory.readdir(path);
  mkdirp = (path: string) => this.memory.mkdirp(path);
  async rename(from: string, to: string) {
    this.#tick();
    return this.memory.rename(from, to);
  }
  async unlink(path: string) {
    this.#tick();
    return this.memory.unlink(path);
  }
  async syncDir(path: string) {
    this.#tick();
    return this.memory.syncDir(path);
  }
}

describe('write-ahead log with snapshots (§7)', () => {
  it('restarts from the snapshot: its state, then the log after it, and the hard state it carried', async () => {
    const fs = new MemoryFileSystem();
    const wal = await logThrough(fs, 10);
    await wal.installSnapshot(snapshotAt(8), vote, run(9, 10));
    await wal.write([entries(11, 12)]);
    await wal.sync();
    await wal.close();
    const { recovered } = await reopen(fs);
    expect(shape(recovered)).toEqual({ snapshot: { index: 8, data: 'state after 8' }, first: 9, last: 12, hardState: vote });
    // Reference: section 7
  });

  it('keeps two snapshots and deletes the older files and every segment before the older snapshot\'s log', async () => {
    const fs = new MemoryFileSystem();
    const wal = await twoSnapshots(fs);
    await wal.write([entries(21, 30)]);
    await wal.sync();
    await wal.installSnapshot(snapshotAt(25), vote, run(26, 30));
    await wal.close();
    const names = (await fs.readdir(dir)).filter((name) => name !== 'LOCK').sort();
    // Segment 1 held the log before any snapshot; 2 starts after 5 (no longer kept); 3 after 15; 4 after 25.
    expect(names).toEqual(['0000000000000003.wal', '0000000000000004.wal', snapshotFileName(15), snapshotFileName(25)]);
    expect(shape((await reopen(fs)).recovered)).toMatchObject({ snapshot: { index: 25 }, first: 26, last: 30 });
  });

  it('falls back to the older snapshot when the newest is corrupt, replaying the log from it', async () => {
    const fs = new MemoryFileSystem();
    const wal = await twoSnapshots(fs);
    await wal.close();
    const newest = join(dir, snapshotFileName(15));
    const bytes = await fs.readFile(newest);
    await fs.flipBit(newest, bytes.length - 1);
    const { recovered } = await reopen(fs);
    expect(shape(recovered)).toEqual({ snapshot: { index: 5, data: 'state after 5' }, first: 6, last: 20, hardState: vote });
    expect(recovered.entries.map((e) => e.index)).toEqual(run(6, 20).map((e) => e.index));
  });

  it('fails with LogCorrupt, naming the file, when no usable snapshot reaches the log', async () => {
    const fs = new MemoryFileSystem();
    const wal = await twoSnapshots(fs);
    await wal.installSnapshot(snapshotAt(18), vote, run(19, 20));
    await wal.close();
    // Kept: 15 and 18; segment 1 (the log from index 1) is gone. Break both snapshots.
    for (const index of [15, 18]) await fs.flipBit(join(dir, snapshotFileName(index)), 40);
    const error = await thrownBy(openWal(fs, dir));
    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect((error as { details: { file: string } }).details.file).toBe(join(dir, snapshotFileName(18)));
    expect((error as Error).message).toMatch(/no snapshot is usable/);
  });

  it('fails with LogCorrupt when falling back needs a log that does not reach the newer snapshot (a follower that discarded its log)', async () => {
    const fs = new MemoryFileSystem();
    const wal = await logThrough(fs, 10);
    await wal.installSnapshot(snapshotAt(5), vote, run(6, 10));
    // A leader's snapshot at 40, of a term this log never had: the log after 5 is discarded.
    await wal.installSnapshot(snapshotAt(40, 3), vote, []);
    await wal.close();
    await fs.flipBit(join(dir, snapshotFileName(40)), 40);
    const error = await thrownBy(openWal(fs, dir));
    expect(hasErrorCode(error, 'LogCorrupt')).toBe(true);
    expect((error as Error).message).toMatch(/must reach the snapshot of index 40/);
  });

  it('passes over a snapshot file that no log continues (a crash before its segment was made)', async () => {
    const fs = new MemoryFileSystem();
    const wal = await logThrough(fs, 10);
    await wal.close();
    await writeSnapshotFile(fs, dir, snapshotAt(9), true);
    expect(shape((await reopen(fs)).recovered)).toEqual({ snapshot: null, first: 1, last: 10, hardState: vote });
  });

  it('loses nothing synced when the power fails at any point of a snapshot: the old state or the new one', async () => {
    let cutsBeforeInstalled = 0;
    for (let crashAt = 1; crashAt <= 40; crashAt++) {
      const memory = new MemoryFileSystem();
      const wal = await logThrough(memory, 10);
      await wal.installSnapshot(snapshotAt(4), vote, run(5, 10));
      await wal.write([entries(11, 14)]);
      await wal.sync();
      await wal.close();
      const cut = new PowerCut(memory, crashAt);
      const { wal: doomed } = await openWal(cut, dir).catch(() => ({ wal: null }));
      const installed = doomed === null ? false : await doomed.installSnapshot(snapshotAt(12), vote, run(13, 14)).then(() => true, () => false);
      memory.crash();
      const { recovered } = await reopen(memory);
      // Every synced entry survives, in the snapshot or in the log after it.
      expect(shape(recovered), `power cut at call ${crashAt}`).toEqual({
        snapshot: installed ? { index: 12, data: 'state after 12' } : { index: expect.any(Number), data: expect.any(String) },
        first: (recovered.snapshot?.index ?? 0) + 1,
        last: 14,
        hardState: vote,
      });
      expect([4, 12], `power cut at call ${crashAt}`).toContain(recovered.snapshot?.index);
      if (installed) break;
      cutsBeforeInstalled++;
    }
    // Every call of open and of the snapshot was a cut point once: the last run went through whole.
    expect(cutsBeforeInstalled).toBeGreaterThan(8);
    expect(cutsBeforeInstalled).toBeLessThan(40);
  });

  it('appends after a snapshot that discarded the log: the next entry follows the snapshot', async () => {
    const fs = new MemoryFileSystem();
    const wal = await logThrough(fs, 3);
    await wal.installSnapshot(snapshotAt(40, 2), vote, []);
    await wal.write([entries(41, 42, 2)]);
    await wal.sync();
    await wal.close();
    expect(shape((await reopen(fs)).recovered)).toMatchObject({ snapshot: { index: 40 }, first: 41, last: 42 });
    expect((await reopen(fs)).recovered.entries[0]).toEqual(entry(41, 2));
  });
});
