import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type Actor } from 'xstate';
import { roleOf, type raftServerMachine } from '../../machines/raft-server.machine.ts';
import { RealFileSystem } from '../../src/io/real-file-system.ts';
import { provideDurableLog } from '../../src/io/storage-actors.ts';
import { openWal, type Wal } from '../../src/io/wal.ts';
import type { RaftMessage } from '../../src/protocol/messages.ts';
import type { Entry, NodeId, RecoveredState } from '../../src/protocol/types.ts';

/**
 * Three raft-server charts, each over its own write-ahead log on the real file system (fsync on),
 * with messages delivered by hand and time moved by hand (one simulated clock per server). The
 * logs are asynchronous, so the test waits for each step by polling, a small await at a time.
 */

const ids: readonly NodeId[] = ['n1', 'n2', 'n3'];
const config = { electionTimeoutMsMin: 150, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 };

interface Server {
  readonly actor: Actor<typeof raftServerMachine>;
  readonly wal: Wal;
  readonly clock: SimulatedClock;
  readonly recovered: RecoveredState;
  readonly applied: Entry[];
}

class RealDiskCluster {
  readonly inFlight: RaftMessage[] = [];
  readonly servers = new Map<NodeId, Server>();
  readonly errors: unknown[] = [];

  constructor(private readonly root: string) {}

  /** Opens `id`'s log from its folder (creating it the first time) and starts its chart on what was recovered. */
  async start(id: NodeId): Promise<Server> {
    const { wal, recovered } = await openWal(new RealFileSystem(), join(this.root, id));
    const clock = new SimulatedClock();
    const actor = createActor(provideDurableLog(wal), { input: { id, servers: ids, randomSeed: 7, recovered, config }, clock });
    const server: Server = { actor, wal, clock, recovered, applied: [] };
    actor.on('net.send', ({ message }) => this.inFlight.push(message));
    actor.on('state.apply', ({ entries }) => server.applied.push(...entries));
    actor.subscribe({ error: (error) => this.errors.push(error) });
    this.servers.set(id, server);
    actor.start();
    return server;
  }

  /** Stops `id` and closes its log; its folder stays. */
  async stop(id: NodeId): Promise<void> {
    const server = this.server(id);
    this.servers.delete(id);
    server.actor.stop();
    await server.wal.close();
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.servers.keys()]) await this.stop(id);
  }

  server(id: NodeId): Server {
    const server = this.servers.get(id);
    if (server === undefined) throw new Error(`${id} is not running`);
    return server;
  }

  role(id: NodeId): string {
    return roleOf(this.server(id).actor.getSnapshot());
  }

  /** Delivers every message in flight, waits a little for the logs, and repeats until `done` holds. */
  async deliverUntil(done: () => boolean, what: string, limitMs = 20_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (!done()) {
      if (this.errors.length > 0) throw this.errors[0];
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; roles ${ids.map((id) => `${id}:${this.servers.has(id) ? this.role(id) : 'stopped'}`).join(' ')}`);
      for (const message of this.inFlight.splice(0)) this.servers.get(message.to)?.actor.send(message);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

const commands = ['set x 1', 'set y 2', 'del x'];
const decoder = new TextDecoder();

function describeLog(entries: readonly Entry[]): string[] {
  return entries.map((entry) => `${entry.index}:${entry.term}:${entry.kind}:${decoder.decode(entry.command)}`);
}

describe('three raft servers on real write-ahead logs (fsync on)', () => {
  let root = '';
  let cluster: RealDiskCluster;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'raftchart-durable-log-'));
    cluster = new RealDiskCluster(root);
  });

  afterEach(async () => {
    await cluster.stopAll();
    await rm(root, { recursive: true, force: true });
  });

  it('elect a leader, commit proposals, and a restarted follower recovers its term, vote and log from its folder', async () => {
    for (const id of ids) await cluster.start(id);

    cluster.server('n1').clock.increment(config.electionTimeoutMsMax);
    await cluster.deliverUntil(() => cluster.role('n1') === 'leader', 'n1 to win the election');
    cluster.server('n1').actor.send({ type: 'client.propose', requestId: 1, commands: commands.map((c) => new TextEncoder().encode(c)) });
    await cluster.deliverUntil(() => cluster.server('n1').applied.length === 1 + commands.length, 'the leader to apply the proposals');
    // The followers learn the new commit index from the next heartbeat.
    cluster.server('n1').clock.increment(config.heartbeatIntervalMs);
    await cluster.deliverUntil(() => ids.every((id) => cluster.server(id).applied.length === 1 + commands.length), 'every server to apply');
    const leaderLog = describeLog(cluster.server('n1').applied);
    expect(leaderLog).toEqual(['1:1:noop:', '2:1:command:set x 1', '3:1:command:set y 2', '4:1:command:del x']);

    await cluster.stop('n2');
    const restarted = await cluster.start('n2');

    expect(restarted.recovered.hardState).toEqual({ term: 1, votedFor: 'n1' });
    expect(describeLog(restarted.recovered.entries)).toEqual(leaderLog);
    const context = restarted.actor.getSnapshot().context;
    expect({ term: context.currentTerm, votedFor: context.votedFor, lastIndex: context.log.lastIndex }).toEqual({ term: 1, votedFor: 'n1', lastIndex: 4 });
  });
});
