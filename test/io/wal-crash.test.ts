import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { RealFileSystem } from '../../src/io/real-file-system.ts';
import { openWal } from '../../src/io/wal.ts';
import type { RecoveredState } from '../../src/protocol/types.ts';
import { crashCommand, junkCommand } from './crash-commands.ts';

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(here, '..', '..');
const childScript = join(here, 'wal-crash-child.ts');
const rounds = 20;
/** Logs killed side by side: a child needs 0.5–1 s of CPU to start under tsx, most of each round. */
const lanes = 2;
/** How long after the child reports ready it is killed: a random moment in [0, killDelayMsMax]. */
const killDelayMsMax = 150;

interface Round {
  /** The highest index the child acknowledged (printed after its sync resolved), and that batch's term. */
  readonly ackedIndex: number;
  readonly ackedTerm: number;
}

let root: string;
const children = new Set<ChildProcess>();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'raftchart-wal-crash-'));
});

afterEach(async () => {
  // Wait for every child to be gone: a live one could recreate files after the folder is removed.
  await Promise.all([...children].map(stopChild));
  children.clear();
  await rm(root, { recursive: true, force: true });
});

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Starts the child, kills it with SIGKILL `delayMs` after it is ready, and returns what it acknowledged. */
function runAndKill(dir: string, seed: number, delayMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const process_ = spawn(process.execPath, ['--import', 'tsx', childScript, dir, String(seed)], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(process_);
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    process_.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.includes('ready')) timer = setTimeout(() => process_.kill('SIGKILL'), delayMs);
    });
    process_.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    process_.on('error', reject);
    process_.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(process_);
      if (signal !== 'SIGKILL') {
        reject(new Error(`the child exited by itself (code ${code}, signal ${signal}):\n${stderr}`));
        return;
      }
      // A line cut by the kill was never fully printed: only whole lines count.
      let ackedIndex = 0;
      let ackedTerm = 0;
      for (const line of stdout.split('\n').slice(0, -1)) {
        const match = /^acked (\d+) (\d+)$/.exec(line);
        if (match !== null) [ackedIndex, ackedTerm] = [Number(match[1]), Number(match[2])];
      }
      resolve({ ackedIndex, ackedTerm });
    });
  });
}

/** Every acknowledged entry is there byte for byte; anything after it is something the child wrote. */
function checkRecovered(recovered: RecoveredState, ackedIndex: number, ackedTerm: number, context: string): void {
  const { entries, hardState } = recovered;
  expect(entries.length, `${context}: acknowledged entries lost`).toBeGreaterThanOrEqual(ackedIndex);
  expect(hardState.term, `${context}: acknowledged term lost`).toBeGreaterThanOrEqual(ackedTerm);
  for (let i = 0; i < entries.length; i++) {
    const { index, command } = entries[i];
    const written = Buffer.from(command).equals(crashCommand(index));
    const junk = index > ackedIndex && Buffer.from(command).equals(junkCommand(index));
    if (index !== i + 1 || !(written || junk)) {
      expect.fail(`${context}: entry at position ${i} (index ${index}, ${command.length} bytes) is not what was written`);
    }
  }
}

interface LaneResult {
  readonly ackedIndex: number;
  readonly staleLocks: number;
  readonly tornTails: number;
}

/** Kills and reopens one log `roundsInLane` times, checking it after every kill. */
async function runLane(dir: string, seed: number, roundsInLane: number): Promise<LaneResult> {
  const random = new Random(seed, 'wal-crash-test');
  let ackedIndex = 0;
  let ackedTerm = 0;
  let staleLocks = 0;
  let tornTails = 0;
  for (let round = 0; round < roundsInLane; round++) {
    const context = `seed ${seed} (rerun with RAFTCHART_SEED), ${dir}, round ${round}`;
    const result = await runAndKill(dir, seed + round, random.int(0, killDelayMsMax));
    if (result.ackedIndex > ackedIndex) [ackedIndex, ackedTerm] = [result.ackedIndex, result.ackedTerm];
    if ((await readdir(dir).catch((): string[] => [])).includes('LOCK')) staleLocks++;

    const { wal, recovered, tornTail } = await openWal(new RealFileSystem(), dir);
    await wal.close();

    checkRecovered(recovered, ackedIndex, ackedTerm, context);
    if (tornTail !== null) tornTails++;
  }
  return { ackedIndex, staleLocks, tornTails };
}

describe('write-ahead log on real files, killed with SIGKILL', () => {
  it(`keeps every acknowledged record byte for byte across ${rounds} kills at random moments`, async () => {
    const seed = Number(process.env.RAFTCHART_SEED ?? Math.floor(Math.random() * 2 ** 31));

    // allSettled: a failing lane must not leave the other one spawning children after the test ends.
    const settled = await Promise.allSettled(
      Array.from({ length: lanes }, (_, lane) => runLane(join(root, `log-${lane}`), seed + lane * 1000, rounds / lanes)),
    );
    const results = settled.map((outcome) => {
      if (outcome.status === 'rejected') throw outcome.reason;
      return outcome.value;
    });

    for (const result of results) {
      expect(result.ackedIndex, `seed ${seed}: a child never acknowledged anything`).toBeGreaterThan(0);
      expect(result.staleLocks, `seed ${seed}: the killed children left no lock to take over`).toBeGreaterThan(rounds / lanes / 2);
    }
    const summary = results.map((r) => `${r.ackedIndex} acked, ${r.tornTails} torn tails, ${r.staleLocks} stale locks`).join('; ');
    console.info(`wal crash test: seed ${seed}: ${summary}`);
  }, 40_000);
});
