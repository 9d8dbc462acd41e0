import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../src/core/assert.ts';
import { RaftClient } from '../src/net/raft-client.ts';
import { hasErrorCode, RaftchartError } from '../src/protocol/errors.ts';
import { runClosedLoop, thisProcess, type LoadPlan, type LoadWindow, type ResourceProbe } from './closed-loop.ts';
import { cpuMicrosOf } from './proc-stat.ts';
import { keyValueCommandOf } from './raftchart-load.ts';
import { ServeCluster } from './serve-cluster.ts';

/**
 * raftchart as `raftchart serve` processes under the closed-loop load (issue #18): the clients of
 * this process propose over TCP through RaftClient (src/net/raft-client.ts), each its own
 * key-value set, exactly once in a session; a proposal resolves once the leader applied it.
 * `raftClients` RaftClients share the clients (client i on RaftClient i mod n): each holds one
 * connection per server, every proposal of its clients pipelined on it, and one session.
 */

export interface ServeRun {
  readonly nodes: number;
  readonly bytes: number;
  readonly fsync: boolean;
  /** Folder for the cluster's temp folder: on the disk to measure. */
  readonly parentDir: string;
  /** RaftClients in this process the closed-loop clients are spread over (each: one session, one connection per server). */
  readonly raftClients: number;
}

/** CPU time of each process in a window, in µs. */
export interface ProcessCpu {
  /** This process: the closed-loop clients and their RaftClients. */
  readonly clientMicros: number;
  /** The server that led at the window's end. */
  readonly leaderMicros: number;
  /** The other servers, summed. */
  readonly followersMicros: number;
  readonly followers: number;
}

/** One measured window on serve processes. */
export interface ServeWindow extends LoadWindow {
  /** Proposals RaftClient gave up on (Timeout: no leader confirmed them in time) and the load proposed again (warm-up included). */
  readonly retries: number;
  /** Terms that began between the warm-up's start and the window's end: elections, with PreVote only ones that stood. */
  readonly elections: number;
  /** Where the window's CPU went; null when no server said it led at the window's end. */
  readonly processes: ProcessCpu | null;
}

/** A proposal given up on (Timeout) this often in a row ends the run. */
const retriesPerCommandMax = 10;
/** Time beyond the plans' own that a serve process lives: start-up, connecting, stopping. */
const lifetimeSlackSeconds = 120;
/** How long to wait for the first leader before giving up on a run, and how often to ask. */
const leaderWaitMsMax = 15_000;
const leaderPollMs = 20;

/**
 * Starts `run.nodes` serve processes, measures each plan in turn on them (the cluster warms up
 * between plans), stops them. `onCluster` hears the cluster as soon as it runs, so an interrupted
 * benchmark can stop it; it is stopped here however the run ends.
 */
export async function measureServe(run: ServeRun, plans: readonly LoadPlan[], onWindow: (window: ServeWindow) => void, onCluster: (cluster: ServeCluster) => void): Promise<void> {
  assert(Number.isInteger(run.raftClients) && run.raftClients >= 1, `raftClients ${run.raftClients}`);
  const plansSeconds = plans.reduce((sum, plan) => sum + plan.warmupMs + plan.durationMs, 0) / 1000;
  const cluster = await ServeCluster.start({ nodes: run.nodes, fsync: run.fsync, parentDir: run.parentDir, lifetimeSeconds: Math.ceil(plansSeconds) + lifetimeSlackSeconds });
  onCluster(cluster);
  const clients: RaftClient[] = [];
  try {
    for (let i = 0; i < run.raftClients; i++) clients.push(await RaftClient.connect({ servers: cluster.clientAddresses }));
    // The first election is start-up, not load: no window should wait for it or count it.
    await untilLeader(clients[0]);
    for (const plan of plans) onWindow(await measurePlan(cluster, clients, run.bytes, plan));
  } finally {
    for (const client of clients) client.close();
    await cluster.stop();
  }
}

async function measurePlan(cluster: ServeCluster, clients: readonly RaftClient[], bytes: number, plan: LoadPlan): Promise<ServeWindow> {
  const commands = Array.from({ length: plan.concurrency }, (_, client) => keyValueCommandOf(client, bytes));
  let retries = 0;
  const operation = async (client: number) => {
    for (let attempt = 0; attempt <= retriesPerCommandMax; attempt++) {
      try {
        const { result } = await clients[client % clients.length].propose(commands[client]);
        if ((result as { ok?: unknown }).ok !== true) throw new Error(`the key-value store refused a benchmark command: ${JSON.stringify(result)}`);
        return;
      } catch (error) {
        if (!hasErrorCode(error, 'Timeout')) throw error;
        if (!cluster.running) throw new Error(`a serve process exited during the run:\n${cluster.output()}`);
        retries++;
      }
    }
    throw new RaftchartError('Timeout', `a command timed out ${retriesPerCommandMax} times in a row: is the machine overloaded?`);
  };
  // runClosedLoop reads cpuMicros exactly twice, as the window opens and as it closes: those two readings split the CPU by process.
  const members = cluster.members;
  const edges: number[][] = [];
  const probe: ResourceProbe = {
    cpuMicros: () => {
      const reading = [thisProcess.cpuMicros(), ...members.map((member) => cpuMicrosOf(member.pid))];
      edges.push(reading);
      return reading.reduce((sum, micros) => sum + micros, 0);
    },
    rssBytes: cluster.probe.rssBytes,
  };
  const termAtStart = await highestTerm(clients[0]);
  const window = await runClosedLoop(operation, plan, probe);
  assert(edges.length === 2, `the window read CPU ${edges.length} times, not at its two edges`);
  const reports = await clients[0].status();
  const leader = reports.find((report) => report.status?.role === 'leader')?.serverId ?? null;
  const leaderAt = members.findIndex((member) => member.id === leader);
  const micros = edges[1].map((end, i) => end - edges[0][i]);
  const serverMicros = micros.slice(1);
  return {
    ...window,
    retries,
    elections: Math.max(0, termOf(reports) - termAtStart),
    processes:
      leaderAt < 0
        ? null
        : {
            clientMicros: micros[0],
            leaderMicros: serverMicros[leaderAt],
            followersMicros: serverMicros.reduce((sum, value, i) => (i === leaderAt ? sum : sum + value), 0),
            followers: members.length - 1,
          },
  };
}

/** Resolves once a server says it leads; Timeout after leaderWaitMsMax. */
async function untilLeader(client: RaftClient): Promise<void> {
  const giveUpAt = performance.now() + leaderWaitMsMax;
  while (performance.now() < giveUpAt) {
    const reports = await client.status();
    if (reports.some((report) => report.status?.role === 'leader')) return;
    await sleep(leaderPollMs);
  }
  throw new RaftchartError('Timeout', `the serve processes elected no leader within ${leaderWaitMsMax} ms: is the machine overloaded?`);
}

async function highestTerm(client: RaftClient): Promise<number> {
  return termOf(await client.status());
}

/** The highest term any answering server reports (0 when none answers). */
function termOf(reports: readonly { readonly status: { readonly term: number } | null }[]): number {
  return Math.max(0, ...reports.map((report) => report.status?.term ?? 0));
}
