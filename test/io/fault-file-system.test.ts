import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../../src/io/fault-file-system.ts';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';

const one = Uint8Array.of(1);

async function setUp() {
  const memory = new MemoryFileSystem();
  const fault = new FaultFileSystem(memory);
  await fault.mkdirp('/d');
  const file = await fault.openAppend('/d/f', 'ifMissing');
  return { memory, fault, file };
}

/** Runs `count` appends and returns each outcome: 'ok' or the error code. */
async function appendOutcomes(file: { append(b: Uint8Array[]): Promise<void> }, count: number): Promise<string[]> {
  const outcomes: string[] = [];
  for (let i = 0; i < count; i++) {
    try {
      await file.append([one]);
      outcomes.push('ok');
    } catch (error) {
      outcomes.push((error as { code: string }).code);
    }
  }
  return outcomes;
}

describe('fault file system', () => {
  it('fails only the nth matching write, counted from when the rule is added', async () => {
    const { fault, file } = await setUp();
    await file.append([one]);

    fault.failOn({ operation: 'write', code: 'EIO', nth: 2 });

    expect(await appendOutcomes(file, 4)).toEqual(['ok', 'EIO', 'ok', 'ok']);
  });

  it('fails every write from the nth on when persistent', async () => {
    const { fault, file } = await setUp();

    fault.failOn({ operation: 'write', code: 'ENOSPC', nth: 2, persistent: true });

    expect(await appendOutcomes(file, 4)).toEqual(['ok', 'ENOSPC', 'ENOSPC', 'ENOSPC']);
  });

  it('fails only the files its path predicate picks, following renames', async () => {
    const { fault, file } = await setUp();
    const other = await fault.openAppend('/d/g', 'ifMissing');
    fault.failOn({ operation: 'datasync', code: 'EIO', path: (path) => path.endsWith('/h') });
    await fault.rename('/d/f', '/d/h');

    await expect(other.datasync()).resolves.toBeUndefined();
    await expect(file.datasync()).rejects.toMatchObject({ code: 'EIO' });
  });

  it('writes the given prefix before a failing write throws', async () => {
    const { fault, memory, file } = await setUp();
    fault.failOn({ operation: 'write', code: 'EIO', nth: 1, bytesWrittenBeforeFailure: 3 });

    await expect(file.append([Uint8Array.of(1, 2), Uint8Array.of(3, 4)])).rejects.toMatchObject({ code: 'EIO' });

    expect(Array.from(await memory.readFile('/d/f'))).toEqual([1, 2, 3]);
  });

  it('never passes a failed fdatasync on, so a crash loses what it should have saved', async () => {
    const { fault, file } = await setUp();
    await fault.syncDir('/d');
    await file.append([one]);
    fault.failOn({ operation: 'datasync', code: 'EIO', nth: 1 });

    await expect(file.datasync()).rejects.toMatchObject({ code: 'EIO' });
    fault.crash();

    expect(Array.from(await fault.readFile('/d/f'))).toEqual([]);
  });

  it('delays fdatasync through the injected sleep', async () => {
    const slept: number[] = [];
    const fault = new FaultFileSystem(new MemoryFileSystem(), { sleep: async (ms) => void slept.push(ms) });
    await fault.mkdirp('/d');
    const file = await fault.openAppend('/d/f', 'ifMissing');
    fault.slowDatasync({ delayMs: 40 });

    await file.datasync();

    expect(slept).toEqual([40]);
  });

  it('delays fdatasync on the real clock by default', async () => {
    const { fault, file } = await setUp();
    fault.slowDatasync({ delayMs: 30 });

    const started = performance.now();
    await file.datasync();

    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('logs every call with its outcome and whether it was injected', async () => {
    const { fault, file } = await setUp();
    fault.failOn({ operation: 'write', code: 'EIO', nth: 1 });

    await file.append([one]).catch(() => undefined);
    await file.datasync();

    expect(fault.calls.slice(-2)).toEqual([
      { operation: 'write', path: '/d/f', outcome: 'EIO', injected: true },
      { operation: 'datasync', path: '/d/f', outcome: 'ok', injected: false },
    ]);
  });

  it('stops failing after clearFaults', async () => {
    const { fault, file } = await setUp();
    fault.failOn({ operation: 'write', code: 'EIO' });

    fault.clearFaults();

    await expect(file.append([one])).resolves.toBeUndefined();
  });

  it('tears the last unsynced write at crash and flips bits through the memory file system', async () => {
    const { fault, file } = await setUp();
    await fault.syncDir('/d');
    await file.append([Uint8Array.of(1, 2)]);
    await file.datasync();
    await file.append([Uint8Array.of(3, 4, 5)]);

    fault.crash({ tornWriteBytesKept: 1 });
    await fault.flipBit('/d/f', 0, 7);

    expect(Array.from(await fault.readFile('/d/f'))).toEqual([0x81, 2, 3]);
  });
});
