import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.ts';
import { ChildProcesses, waitForZombie, type Child } from '../io/child-processes.ts';

/**
 * Issue #13's done-when: a process running a 3-server LocalCluster is killed with SIGKILL, and a
 * new process starts a LocalCluster on the same dataDir at once, round after round. No start may
 * be refused (LogLocked), and every command acknowledged in any earlier round must be replayed.
 * In some rounds the killed process is left a zombie that its parent never reaps. The child is
 * kill-restart-child.ts. RAFTCHART_KILL_ROUNDS sets the number of rounds (3 in `npm test`; the
 * issue asks for 30), RAFTCHART_SEED the seed.
 */

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(here, '..', '..');
const childScript = join(here, 'kill-restart-child.ts');
const rounds = Number(process.env.RAFTCHART_KILL_ROUNDS ?? 3);
/** Starting the child (tsx), its three workers and an election, and replaying the log: generous on two busy cores. */
const replayWaitMs = 45_000;
/** The first acknowledged command after the replay. */
const firstAckWaitMs = 20_000;
/** How long after the first acknowledgement the child is killed: a random moment in [0, killDelayMsMax]. */
const killDelayMsMax = 300;
/** How long a killed child's remaining output may take to be read, or a killed child to become a zombie. */
const goneWaitMs = 5_000;

let dataDir: string;
const children = new ChildProcesses();

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'raftchart-kill-restart-'));
});

afterEach(async () => {
  await children.killAll();
  await rm(dataDir, { recursive: true, force: true });
});

interface Started {
  readonly child: Child;
  readonly pid: number;
  /** Whether the child runs under a parent that never reaps it. */
  readonly unreaped: boolean;
}

async function startChild(round: number, seed: number, unreaped: boolean): Promise<Started> {
  const argv = [process.execPath, '--import', 'tsx', childScript, dataDir, String(round), String(seed)];
  if (unreaped) return { ...(await children.spawnUnreaped(argv, projectRoot, 120)), unreaped };
  const child = children.spawn(argv, projectRoot);
  return { child, pid: child.process.pid!, unreaped };
}

/** SIGKILLs the child and resolves once it is dead (a zombie, when unreaped) and all its output is read. */
async function kill(started: Started): Promise<void> {
  if (started.unreaped) {
    children.killUnreaped(started.pid);
    await waitForZombie(started.pid, goneWaitMs);
  } else {
    started.child.process.kill('SIGKILL');
  }
  await started.child.outputEnded(goneWaitMs);
}

/** The commands the child printed in lines `<prefix> <command>`. */
function printed(child: Child, prefix: string): string[] {
  return child.lines.filter((line) => line.startsWith(`${prefix} `)).map((line) => line.slice(prefix.length + 1));
}

describe('LocalCluster killed with SIGKILL and restarted in a new process', () => {
  it(`starts again at once on the same dataDir and replays every acknowledged command, ${rounds} rounds`, async () => {
    const seed = Number(process.env.RAFTCHART_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = new Random(seed, 'kill-restart-test');
    const acknowledged: string[] = [];
    let zombies = 0;
    let previous: Started | null = null;
    const startedAt = performance.now();
    // One more child than rounds: the last one only checks the replay of the last kill.
    for (let round = 1; round <= rounds + 1; round++) {
      const context = `seed ${seed} (rerun with RAFTCHART_SEED), round ${round}`;
      const unreaped = random.int(0, 1) === 1;
      const started = await startChild(round, seed + round, unreaped);
      const outcome = await started.child.waitForLine(/^(replay done|refused .*)$/, replayWaitMs);

      expect(outcome[1], `${context}: the start was refused`).toBe('replay done');
      const replayed = new Set(printed(started.child, 'replayed'));
      const lost = acknowledged.filter((c) => !replayed.has(c));
      expect(lost, `${context}: acknowledged commands missing from the replay`).toEqual([]);
      // The zombie left by the previous round has done its part: this child started past it.
      if (previous?.unreaped === true) await children.endParentOf(previous.pid);
      if (round > rounds) break;

      await started.child.waitForLine(/^acked /, firstAckWaitMs);
      await sleep(random.int(0, killDelayMsMax));
      await kill(started);
      acknowledged.push(...printed(started.child, 'acked'));
      if (unreaped) zombies++;
      previous = started;
    }

    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    console.info(`kill-restart: seed ${seed}: ${rounds} rounds (${zombies} left a zombie), ${acknowledged.length} commands acknowledged and replayed, 0 refused, ${seconds} s`);
  }, 60_000 + rounds * 60_000);
});
