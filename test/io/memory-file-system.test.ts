import { describe, expect, it } from 'vitest';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

async function fileWith(fs: MemoryFileSystem, path: string, content: Uint8Array, options: { sync: boolean; syncDir: boolean }) {
  const file = await fs.openAppend(path, 'ifMissing');
  await file.append([content]);
  if (options.sync) await file.datasync();
  if (options.syncDir) await fs.syncDir('/d');
  return file;
}

describe('memory file system', () => {
  it('appends several buffers in order, like writev', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    const file = await fs.openAppend('/d/f', 'ifMissing');

    await file.append([bytes(1, 2), bytes(), bytes(3)]);
    await file.append([bytes(4)]);

    expect(Array.from(await fs.readFile('/d/f'))).toEqual([1, 2, 3, 4]);
  });

  it('keeps synced bytes of a folder-synced file across a crash and drops the rest', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    const file = await fileWith(fs, '/d/f', bytes(1, 2), { sync: true, syncDir: true });
    await file.append([bytes(3, 4)]);

    fs.crash();

    expect(Array.from(await fs.readFile('/d/f'))).toEqual([1, 2]);
  });

  it('loses a file created and synced but never folder-synced', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    await fileWith(fs, '/d/f', bytes(1), { sync: true, syncDir: false });

    fs.crash();

    expect(await fs.readdir('/d')).toEqual([]);
  });

  it('undoes a rename and an unlink that were not folder-synced', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    await fileWith(fs, '/d/a', bytes(1), { sync: true, syncDir: true });
    await fileWith(fs, '/d/b', bytes(2), { sync: true, syncDir: true });
    await fs.rename('/d/a', '/d/c');
    await fs.unlink('/d/b');

    fs.crash();

    expect(await fs.readdir('/d')).toEqual(['a', 'b']);
  });

  it('keeps a rename once the folder is synced', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    await fileWith(fs, '/d/a', bytes(1), { sync: true, syncDir: true });
    await fs.rename('/d/a', '/d/c');
    await fs.syncDir('/d');

    fs.crash();

    expect(await fs.readdir('/d')).toEqual(['c']);
  });

  it('restores the synced bytes that an unsynced truncate cut', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    const file = await fileWith(fs, '/d/f', bytes(1, 2, 3), { sync: true, syncDir: true });
    await file.truncate(1);
    await file.append([bytes(9)]);

    fs.crash();

    expect(Array.from(await fs.readFile('/d/f'))).toEqual([1, 2, 3]);
  });

  it('tears the last unsynced write to the prefix asked for', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    const file = await fileWith(fs, '/d/f', bytes(1), { sync: true, syncDir: true });
    await file.append([bytes(2, 3, 4, 5)]);

    fs.crash({ tornWriteBytesKept: 2 });

    expect(Array.from(await fs.readFile('/d/f'))).toEqual([1, 2, 3]);
  });

  it('tears nothing when the last write was synced', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    const file = await fileWith(fs, '/d/f', bytes(1), { sync: false, syncDir: true });
    await file.append([bytes(2, 3)]);
    await file.datasync();

    fs.crash({ tornWriteBytesKept: 1 });

    expect(Array.from(await fs.readFile('/d/f'))).toEqual([1, 2, 3]);
  });

  it('invalidates handles opened before a crash with EBADF', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    const file = await fileWith(fs, '/d/f', bytes(1), { sync: true, syncDir: true });

    fs.crash();

    await expect(file.append([bytes(2)])).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('answers with errno codes: ENOENT, EEXIST', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    await fs.createExclusive('/d/lock', bytes(1));

    await expect(fs.readFile('/d/missing')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.openAppend('/d/missing', 'never')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.openAppend('/nowhere/f', 'ifMissing')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.createExclusive('/d/lock', bytes(2))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.openAppend('/d/lock', 'exclusive')).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('flips a bit in the stored bytes, synced copy included', async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp('/d');
    await fileWith(fs, '/d/f', bytes(0, 0), { sync: true, syncDir: true });

    await fs.flipBit('/d/f', 1, 3);
    fs.crash();

    expect(Array.from(await fs.readFile('/d/f'))).toEqual([0, 8]);
  });
});
