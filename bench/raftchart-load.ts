import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../src/core/assert.ts';
import { encodeKeyValueCommand, hasErrorCode, LocalCluster, RaftchartError, type ClusterOptions, type NodeId } from '../src/index.ts';
import { runClosedLoop, thisProcess, type LoadPlan, type LoadWindow, type ResourceProbe } from './closed-loop.ts';
import { deltaOf, readThreads, type ThreadDelta, type ThreadReading } from './thread-split.ts';

/**
 * raftchart under load through its public API only: a LocalCluster in a temp folder on the
 * measured disk; each client calls proposeAndWait on the leader (committed and applied there) and,
 * told NotLeader or Timeout, waits for the cluster to name a leader and retries.
 */

/** Client keys have a fixed width so every client's command has the same size: c00000 … c99999. */
const clientKeyDigits = 5;

/** The smallest command size: a key-value `set` with an empty value. */
export const minimumCommandBytes = encodeKeyValueCommand({ op: 'set', key: clientKey(0), value: '' }).byteLength;

/**
 * Client `client`'s command: the default state machine's `set` of its own key (so the store holds
 * one value per client, not one per operation) with a value of 'x's padding it to exactly `bytes`.
 */
export function keyValueCommandOf(client: number, bytes: number, key = clientKey(client)): Uint8Array {
  if (!(bytes >= minimumCommandBytes)) {
    throw new RaftchartError('InvalidOptions', `a command takes at least ${minimumCommandBytes} bytes (a key-value set), asked for ${bytes}.`, { option: 'bytes' });
  }
  const command = encodeKeyValueCommand({ op: 'set', key, value: 'x'.repeat(bytes - minimumCommandBytes) });
  assert(command.byteLength === bytes, `a command of ${bytes} bytes came out ${command.byteLength} bytes long`);
  return command;
}

/** Client `client`'s key: `c` and its number in clientKeyDigits digits (c00000 … c99999). */
export function clientKey(client: number): string {
  return `c${String(client).padStart(clientKeyDigits, '0')}`;
}

/** How long to wait for a leader before giving up on a run. */
const leaderWaitMsMax = 15_000;
const leaderPollMs = 10;
/** A command retried this often in a row (leaders changing under it) ends the run. */
const retriesPerCommandMax = 50;

/**
 * Which server leads, as far as the clients know; when one is told NotLeader, all of them wait for
 * ONE lookup (status of every server, every 10 ms) rather than each polling on its own.
 */
class LeaderTracker {
  readonly #cluster: LocalCluster;
  #leader: NodeId;
  #lookup: Promise<NodeId> | null = null;

  private constructor(cluster: LocalCluster, leader: NodeId) {
    this.#cluster = cluster;
    this.#leader = leader;
  }

  static async of(cluster: LocalCluster): Promise<LeaderTracker> {
    return new LeaderTracker(cluster, await findLeader(cluster));
  }

  get leader(): NodeId {
    return this.#leader;
  }

  /** The leader after `stale` turned out not to lead (or not to apply in time). */
  async replace(stale: NodeId): Promise<NodeId> {
    if (this.#leader !== stale) return this.#leader;
    this.#lookup ??= findLeader(this.#cluster).then(
      (leader) => {
        this.#lookup = null;
        return (this.#leader = leader);
      },
      (error: unknown) => {
        this.#lookup = null;
        throw error;
      },
    );
    return this.#lookup;
  }
}

/** The live server that says it leads, in the highest term any does; Timeout after leaderWaitMsMax. */
async function findLeader(cluster: LocalCluster): Promise<NodeId> {
  const giveUpAt = performance.now() + leaderWaitMsMax;
  while (performance.now() < giveUpAt) {
    const statuses = await Promise.all(cluster.nodeIds.map((id) => cluster.status(id)));
    const leaders = statuses.filter((status) => status.alive && status.role === 'leader').sort((a, b) => b.term - a.term);
    if (leaders.length > 0) return leaders[0].id;
    await sleep(leaderPollMs);
  }
  throw new RaftchartError('Timeout', `no leader within ${leaderWaitMsMax} ms: is the machine overloaded?`);
}

export interface RaftchartRun {
  readonly nodes: number;
  readonly bytes: number;
  readonly fsync: boolean;
  /** Folder for the cluster's temp folder: on the disk to measure. */
  readonly parentDir: string;
  /** The cluster's folder, kept when the run ends (the caller removes it); default a temp folder in parentDir, removed. */
  readonly dataDir?: string;
  /** Clients share this many keys (client i sets key i mod keys); default one key per client. */
  readonly keys?: number;
  /** More cluster options (snapshots, …). */
  readonly cluster?: Partial<Pick<ClusterOptions, 'snapshotEvery' | 'snapshotKeepEntries'>>;
}

/**
 * The timing etcd runs with by default (--heartbeat-interval 100, --election-timeout 1000, which it
 * randomizes up to twice that), so that both systems ride out a busy moment alike: with the
 * cluster's own defaults (50 ms, 150–300 ms) two loaded shared cores can starve a heartbeat long
 * enough to start an election, and every command in flight fails over.
 */
export const etcdTiming = { heartbeatIntervalMs: 100, electionTimeoutMs: [1000, 2000] as const };

/** One measured window on a raftchart cluster. */
export interface RaftchartWindow extends LoadWindow {
  /** Proposals retried after NotLeader or Timeout (warm-up included). */
  readonly retries: number;
  /** Where the window's CPU went (bench/thread-split.ts); null off Linux. Read as the window opens and once its clients are done. */
  readonly threads: ThreadDelta | null;
}

/** A running benchmark cluster: its leader as the clients know it, and closed-loop windows on it. */
export interface RaftchartLoad {
  readonly cluster: LocalCluster;
  /**
   * Runs `plan`'s clients on the cluster: a warm-up (until `ready` resolves too, when given; see
   * runClosedLoop), then the measured window. `probe` reads CPU and memory (default: this process).
   */
  measure(plan: LoadPlan, options?: { readonly probe?: ResourceProbe; readonly ready?: () => Promise<void> }): Promise<RaftchartWindow>;
}

/**
 * Starts one cluster for `run` and hands it to `use`, which measures windows on it (the cluster
 * warms up between them); stops it and removes its folder once `use` settles.
 */
export async function withRaftchartLoad<T>(run: RaftchartRun, use: (load: RaftchartLoad) => Promise<T>): Promise<T> {
  const ownsDataDir = run.dataDir === undefined;
  const dataDir = run.dataDir ?? (await mkdtemp(join(run.parentDir, 'raftchart-bench-')));
  const removeOwned = () => (ownsDataDir ? rm(dataDir, { recursive: true, force: true }) : Promise.resolve());
  const cluster = await LocalCluster.start({ nodes: run.nodes, fsync: run.fsync, dataDir, ...etcdTiming, ...run.cluster }).catch(async (error: unknown) => {
    await removeOwned();
    throw error;
  });
  try {
    const tracker = await LeaderTracker.of(cluster);
    const measure = async (plan: LoadPlan, { probe = thisProcess, ready }: { probe?: ResourceProbe; ready?: () => Promise<void> } = {}) => {
      const keys = run.keys;
      const commands = Array.from({ length: plan.concurrency }, (_, client) =>
        keyValueCommandOf(client, run.bytes, keys === undefined ? clientKey(client) : clientKey(client % keys)),
      );
      let retries = 0;
      const operation = async (client: number) => {
        for (let attempt = 0; attempt <= retriesPerCommandMax; attempt++) {
          const leader = tracker.leader;
          try {
            const { result } = await cluster.proposeAndWait(leader, commands[client]);
            if ((result as { ok?: unknown }).ok !== true) throw new Error(`the key-value store refused a benchmark command: ${JSON.stringify(result)}`);
            return;
          } catch (error) {
            if (!hasErrorCode(error, 'NotLeader') && !hasErrorCode(error, 'Timeout')) throw error;
            retries++;
            await tracker.replace(leader);
          }
        }
        throw new RaftchartError('Timeout', `a command was retried ${retriesPerCommandMax} times: leadership keeps changing; is the machine overloaded?`);
      };
      let atStart: ThreadReading | null = null;
      const opened = async () => {
        await ready?.();
        atStart = await readThreads(cluster);
      };
      const window = await runClosedLoop(operation, plan, probe, opened);
      return { ...window, retries, threads: deltaOf(atStart, await readThreads(cluster)) };
    };
    return await use({ cluster, measure });
  } finally {
    await cluster.stop();
    await removeOwned();
  }
}

/**
 * Starts one cluster for `run`, then measures each plan in turn on it (the cluster warms up
 * between plans); stops it and removes its folder. `onWindow` hears each window as it ends.
 */
export async function measureRaftchart(run: RaftchartRun, plans: readonly LoadPlan[], onWindow: (window: RaftchartWindow) => void): Promise<void> {
  await withRaftchartLoad(run, async (load) => {
    for (const plan of plans) onWindow(await load.measure(plan));
  });
}
