/**
 * Run by kill-restart.test.ts as a child process, to be killed with SIGKILL mid-stream:
 *
 *   node --import tsx test/cluster/kill-restart-child.ts <dataDir> <round> <seed>
 *
 * Starts a 3-server LocalCluster on dataDir, which the previous child (killed) used. If start()
 * rejects it prints `refused <code> <message>` and exits 1. Otherwise it commits the marker
 * `round <R>` and prints every command a server applied up to it, `replayed <command>` each, then
 * `replay done`: a server applies in order from index 1 after a restart, so that is everything the
 * cluster committed before. Then it commits `r<R>-<i>` for i = 1, 2, … one after another on the
 * leader (proposeAndWait), printing `acked r<R>-<i>` once each resolves, until it is killed.
 */
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { errorCodeOf } from '../../src/io/file-system-error.ts';
import type { NodeId } from '../../src/protocol/types.ts';
import { command, commit, text } from './harness.ts';

/** The child ends by itself after this long, should nobody kill it (a test runner that died). */
const lifetimeMsMax = 120_000;
/** Commands one child commits at most, should nobody kill it. */
const commandsMax = 100_000;

async function main(): Promise<void> {
  const [dataDir, roundText, seedText] = process.argv.slice(2);
  setTimeout(() => process.exit(3), lifetimeMsMax);
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({ nodes: 3, dataDir, seed: Number(seedText) });
  } catch (error) {
    process.stdout.write(`refused ${errorCodeOf(error)} ${(error as Error).message}\n`);
    process.exit(1);
  }
  const applied = new Map<NodeId, string[]>(cluster.nodeIds.map((id) => [id, []]));
  cluster.onApply((entry) => {
    if (entry.kind === 'command') applied.get(entry.nodeId)!.push(text(entry.command));
  });

  const marker = `round ${roundText}`;
  await commit(cluster, command(marker));
  // A server that has applied the marker has applied every entry before it.
  const replay = [...applied.values()].find((commands) => commands.includes(marker))!;
  const lines = replay.slice(0, replay.indexOf(marker)).map((c) => `replayed ${c}\n`);
  process.stdout.write(`${lines.join('')}replay done\n`);

  for (let i = 1; i <= commandsMax; i++) {
    const name = `r${roundText}-${i}`;
    await commit(cluster, command(name));
    process.stdout.write(`acked ${name}\n`);
  }
  await cluster.stop();
  process.exit(0);
}

await main();
