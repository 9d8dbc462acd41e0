import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RealFileSystem } from '../../src/io/real-file-system.ts';
import { lockFileName, thisProcess } from '../../src/io/wal-lock.ts';
import { openWal } from '../../src/io/wal.ts';
import { hasErrorCode, type RaftchartError } from '../../src/protocol/errors.ts';
import { ChildProcesses, processStartTimeTicks, waitForZombie } from './child-processes.ts';
import { thrownBy } from './records.ts';

/**
 * The folder lock between real processes on real files (Linux, where /proc tells a zombie and a
 * reused pid from the holder). The holders are wal-lock-child.ts, started through tsx.
 */

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(here, '..', '..');
const holderArgv = (dir: string) => [process.execPath, '--import', 'tsx', join(here, 'wal-lock-child.ts'), dir];
/** A child needs 0.5–1 s of CPU to start under tsx, more on two busy cores. */
const readyWaitMs = 20_000;

let root: string;
let dir: string;
const children = new ChildProcesses();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'raftchart-wal-lock-'));
  dir = join(root, 'log');
});

afterEach(async () => {
  await children.killAll();
  await rm(root, { recursive: true, force: true });
});

/** Opens the log in `dir` from this process, once, and closes it again. */
async function openAndClose(): Promise<void> {
  const { wal } = await openWal(new RealFileSystem(), dir);
  await wal.close();
}

async function writeLock(content: string): Promise<void> {
  await openAndClose();
  await writeFile(join(dir, lockFileName), content);
}

/** A `sleep` that has nothing to do with raftchart: a live process whose pid a LOCK can name. */
async function unrelatedProcess(): Promise<number> {
  const { pid } = await children.spawnUnreaped(['sleep', '30'], projectRoot);
  return pid;
}

describe('WAL folder lock across processes', () => {
  it('opens on the first try a folder whose holder was killed and is a zombie its parent never reaps', async () => {
    const { child, pid } = await children.spawnUnreaped(holderArgv(dir), projectRoot);
    await child.waitForLine(/^ready \d+$/, readyWaitMs);

    children.killUnreaped(pid);
    await waitForZombie(pid);

    expect(await readFile(join(dir, lockFileName), 'latin1')).toMatch(new RegExp(`^${pid} `));
    await expect(openAndClose()).resolves.toBeUndefined();
  });

  it('opens a folder whose LOCK names a pid that now belongs to an unrelated live process', async () => {
    const pid = await unrelatedProcess();
    const { bootId } = thisProcess();
    // The holder that had this pid before started earlier than the process that has it now.
    await writeLock(`${pid} ${pid}.0.1 ${processStartTimeTicks(pid) - 1} ${bootId}\n`);

    await expect(openAndClose()).resolves.toBeUndefined();
  });

  it('opens a folder whose LOCK names this very process in an earlier boot', async () => {
    const { pid, startTimeTicks } = thisProcess();
    await writeLock(`${pid} ${pid}.0.1 ${startTimeTicks} 00000000-0000-0000-0000-000000000000\n`);

    await expect(openAndClose()).resolves.toBeUndefined();
  });

  it('refuses with LogLocked while a live holder in another process has the folder, and says what to do', async () => {
    const child = children.spawn(holderArgv(dir), projectRoot);
    const pid = Number((await child.waitForLine(/^ready (\d+)$/, readyWaitMs))[1]);

    const error = (await thrownBy(openAndClose())) as RaftchartError;

    expect(hasErrorCode(error, 'LogLocked')).toBe(true);
    expect(error.details).toMatchObject({ dir, pid });
    expect(error.message).toContain(`locked by process ${pid}, which is still running: stop that process first`);
    expect(error.message).toContain(`delete ${join(dir, lockFileName)}`);
  });

  it('refuses with LogLocked a second opener in this process, which has the same pid and start time', async () => {
    const first = await openWal(new RealFileSystem(), dir);

    const error = await thrownBy(openAndClose());
    await first.wal.close();

    expect(hasErrorCode(error, 'LogLocked')).toBe(true);
    expect((error as Error).message).toContain('already open in this process');
  });

  it('opens a folder whose LOCK is empty or torn', async () => {
    const pid = await unrelatedProcess();
    const { bootId } = thisProcess();
    const whole = `${pid} ${pid}.0.1 ${processStartTimeTicks(pid)} ${bootId}\n`;
    // Empty; cut short (whole, it would name a live process); zeros, as a crash of the machine leaves them.
    const broken = ['', whole.slice(0, whole.lastIndexOf(' ')), whole.slice(0, -1), '\0'.repeat(16)];
    for (const content of broken) {
      await writeLock(content);

      await expect(openAndClose(), JSON.stringify(content)).resolves.toBeUndefined();
    }
    await writeLock(whole);
    expect(hasErrorCode(await thrownBy(openAndClose()), 'LogLocked'), 'the whole LOCK is refused').toBe(true);
  });

  it('refuses an old-format LOCK ("pid token") naming a live process, which it cannot tell from a reused pid', async () => {
    const pid = await unrelatedProcess();
    await writeLock(`${pid} ${pid}.0.1\n`);

    expect(hasErrorCode(await thrownBy(openAndClose()), 'LogLocked')).toBe(true);
  });

  it('opens an old-format LOCK naming a zombie', async () => {
    const pid = await unrelatedProcess();
    children.killUnreaped(pid);
    await waitForZombie(pid);
    await writeLock(`${pid} ${pid}.0.1\n`);

    await expect(openAndClose()).resolves.toBeUndefined();
  });

  it("opens an old-format LOCK naming this process's own pid, which an earlier process had (a restarted container)", async () => {
    await writeLock(`${process.pid} ${process.pid}.0.1\n`);

    await expect(openAndClose()).resolves.toBeUndefined();
  });
});
