import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dropWritten, RealFileSystem } from '../../src/io/real-file-system.ts';
import { openWal } from '../../src/io/wal.ts';
import { comparable, entries, hardState, replayModel } from './records.ts';

let root: string;
const fs = new RealFileSystem();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'raftchart-real-fs-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('real file system', () => {
  it('appends several buffers in one call, syncs, truncates and reads back', async () => {
    const path = join(root, 'f');
    const file = await fs.openAppend(path, 'ifMissing');

    await file.append([Uint8Array.of(1, 2), Uint8Array.of(), Uint8Array.of(3, 4, 5)]);
    await file.datasync();
    await file.truncate(4);
    await file.append([Uint8Array.of(9)]);
    await file.close();

    expect(Array.from(await fs.readFile(path))).toEqual([1, 2, 3, 4, 9]);
  });

  it('answers with errno codes for exclusive creation and missing files', async () => {
    const path = join(root, 'lock');
    await fs.createExclusive(path, Uint8Array.of(1));

    await expect(fs.createExclusive(path, Uint8Array.of(2))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.openAppend(path, 'exclusive')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.openAppend(join(root, 'missing'), 'never')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.unlink(join(root, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never shows an exclusively created file without all its bytes, and leaves nothing else behind', async () => {
    const path = join(root, 'LOCK');
    const data = new Uint8Array(64).fill(7);
    const seenLengths = new Set<number>();
    for (let attempt = 0; attempt < 20; attempt++) {
      const creating = fs.createExclusive(path, data);
      // Reading synchronously holds this thread while the thread pool carries out what creation
      // has queued: a creation that opens the name first, then writes, shows it empty here.
      const spinUntil = performance.now() + 5;
      while (performance.now() < spinUntil) {
        if (existsSync(path)) seenLengths.add(readFileSync(path).length);
      }
      await creating;
      seenLengths.add((await fs.readFile(path)).length);
      await fs.unlink(path);
    }

    expect([...seenLengths]).toEqual([data.length]);
    expect(await fs.readdir(root)).toEqual([]);
  });

  it('creates folders, renames, lists, syncs a folder and removes', async () => {
    const dir = join(root, 'a', 'b');
    await fs.mkdirp(dir);
    await fs.mkdirp(dir);
    await fs.createExclusive(join(dir, 'x'), Uint8Array.of(7));

    await fs.rename(join(dir, 'x'), join(dir, 'y'));
    await fs.syncDir(dir);
    const listed = await fs.readdir(dir);
    await fs.unlink(join(dir, 'y'));

    expect(listed).toEqual(['y']);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('resumes a short writev with exactly the bytes that did not go out', () => {
    const buffers = [Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5), Uint8Array.of(6)];

    expect(dropWritten(buffers, 0).map((b) => Array.from(b))).toEqual([[1, 2], [3, 4, 5], [6]]);
    expect(dropWritten(buffers, 3).map((b) => Array.from(b))).toEqual([[4, 5], [6]]);
    expect(dropWritten(buffers, 5).map((b) => Array.from(b))).toEqual([[6]]);
    expect(dropWritten(buffers, 6)).toEqual([]);
  });

  it('flips one bit of a stored byte', async () => {
    const path = join(root, 'f');
    await fs.createExclusive(path, Uint8Array.of(0, 0, 0));

    await fs.flipBit(path, 2, 4);

    expect(Array.from(await fs.readFile(path))).toEqual([0, 0, 16]);
  });
});

describe('write-ahead log on real files', () => {
  it('recovers what it wrote after close, rolling segments, and leaves no lock behind', async () => {
    const dir = join(root, 'log');
    const { wal } = await openWal(fs, dir, { segmentBytesMax: 1024 });
    const records = [hardState(1, 'n1'), entries(1, 10), hardState(2, 'n2'), entries(11, 30, 2)];
    for (const record of records) {
      await wal.write([record]);
      await wal.sync();
    }
    await wal.close();

    const reopened = await openWal(fs, dir);
    await reopened.wal.close();
    const names = await fs.readdir(dir);

    expect(comparable(reopened.recovered)).toEqual(comparable(replayModel(records)));
    expect(names.filter((name) => name.endsWith('.wal')).length).toBeGreaterThan(1);
    expect(names).not.toContain('LOCK');
    await expect(stat(join(dir, '0000000000000001.wal'))).resolves.toBeDefined();
  });
});
