import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkStats } from '../bus/network-counters.ts';
import type { ConfigChangeResult, NodeInspection, NodeStatus, ProposeResult } from '../cluster/local-cluster.ts';
import type { ViewedCluster, ViewedNetwork } from '../cluster/viewed-cluster.ts';
import type { WorkerStatus } from '../host/worker-protocol.ts';
import { RaftchartError } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import type { StatusReply } from './client-protocol.ts';
import { ClientConnection, RaftClient } from './raft-client.ts';
import { freePorts, spawnServe, type ServeProcess, type ServeSpec } from './serve-process.ts';

/**
 * A local cluster of `raftchart serve` processes on loopback (`raftchart cluster --processes N`):
 * each server its own process on free ports, peers over TCP, and the live view and the inspector
 * reading them over their client ports (ViewedCluster). Crash is SIGKILL, restart starts the
 * process again on its folder; partitions cut links inside the servers (serve --fault-injection).
 * What a real network or a serve process cannot do here (pause, random loss, disk faults,
 * membership changes) is refused with InvalidOptions.
 */

export interface ProcessClusterOptions {
  readonly processes: number;
  /** Where the servers' folders go (one per server); default a temp folder, removed by stop(). */
  readonly dataDir?: string;
  readonly electionTimeoutMs?: readonly [number, number];
  readonly heartbeatIntervalMs?: number;
  readonly fsync?: boolean;
  readonly snapshotEvery?: number;
  readonly snapshotKeepEntries?: number;
  readonly checkQuorum?: boolean;
}

/** A status or inspect asks this long of one process. */
const askMs = 1000;

export class ProcessCluster implements ViewedCluster {
  readonly nodeIds: readonly NodeId[];
  /** Processes draw their own election timeouts: there is no seed to replay. */
  readonly seed = 0;
  readonly dataDir: string;
  readonly diskFaults = false;
  readonly network: ViewedNetwork;
  /** The servers' client addresses (host:port), in nodeIds order: for RaftClient and `raftchart kv`. */
  readonly clientAddresses: readonly string[];
  /** A client of the whole cluster. */
  readonly client: RaftClient;
  readonly #specs: Map<NodeId, ServeSpec>;
  readonly #processes = new Map<NodeId, ServeProcess>();
  readonly #connections: Map<NodeId, ClientConnection>;
  readonly #lastStatus = new Map<NodeId, StatusReply>();
  readonly #ownsDataDir: boolean;
  #cut: NodeId[][] = [];
  #stopped = false;

  private constructor(specs: Map<NodeId, ServeSpec>, dataDir: string, ownsDataDir: boolean, client: RaftClient, processes: Map<NodeId, ServeProcess>) {
    this.#specs = specs;
    this.nodeIds = [...specs.keys()];
    this.dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.client = client;
    this.#processes = processes;
    this.clientAddresses = [...specs.values()].map((spec) => spec.clientListen);
    this.#connections = new Map([...specs].map(([id, spec]) => [id, new ClientConnection({ host: '127.0.0.1', port: Number(spec.clientListen.split(':')[1]) })]));
    this.network = this.#makeNetwork();
  }

  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    if (!Number.isInteger(options.processes) || options.processes < 1 || options.processes > 9) {
      throw new RaftchartError('InvalidOptions', `processes must be a whole number from 1 to 9, got ${String(options.processes)}.`);
    }
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'raftchart-processes-')));
    const ports = await freePorts(options.processes * 2);
    const ids = Array.from({ length: options.processes }, (_, i) => `n${i + 1}`);
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    const [min, max] = options.electionTimeoutMs ?? [1000, 2000];
    const args = [
      '--election-timeout', `${min}-${max}`,
      '--heartbeat', String(options.heartbeatIntervalMs ?? 100),
      '--snapshot-every', String(options.snapshotEvery ?? 10_000),
      '--snapshot-keep', String(options.snapshotKeepEntries ?? 1000),
      '--fault-injection',
      ...(options.fsync === false ? ['--no-fsync'] : []),
      ...(options.checkQuorum === false ? ['--no-check-quorum'] : []),
    ];
    const specs = new Map<NodeId, ServeSpec>(
      ids.map((id, i) => [id, { id, listen: `127.0.0.1:${ports[i]}`, peers, dataDir: join(dataDir, id), clientListen: `127.0.0.1:${ports[options.processes + i]}`, args }]),
    );
    const processes = new Map([...specs].map(([id, spec]) => [id, spawnServe(spec)]));
    try {
      await Promise.all([...processes.values()].map((serve) => serve.ready));
      const client = await RaftClient.connect({ servers: [...specs.values()].map((spec) => spec.clientListen) });
      return new ProcessCluster(specs, dataDir, ownsDataDir, client, processes);
    } catch (error) {
      await Promise.all([...processes.values()].map((serve) => serve.kill('SIGKILL')));
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  async status(id: NodeId): Promise<NodeStatus> {
    const reply = await this.#ask(id, null);
    return reply === null ? this.#notRunning(id) : statusOf(id, reply.status);
  }

  async inspect(id: NodeId, options: { logTailMax?: number } = {}): Promise<NodeInspection> {
    const reply = await this.#ask(id, options.logTailMax ?? 50);
    if (reply === null) return { ...this.#notRunning(id), detail: null };
    return { ...statusOf(id, reply.status), detail: reply.status.detail ?? null };
  }

  /** SIGKILL: the process dies at once, with whatever it had not synced. */
  async crash(id: NodeId): Promise<void> {
    const serve = this.#process(id);
    await serve.kill('SIGKILL');
  }

  /** Starts `id`'s process again on its folder; resolves once it serves. */
  async restart(id: NodeId): Promise<void> {
    const serve = this.#process(id);
    if (serve.running()) return;
    const again = spawnServe(this.#specs.get(id) as ServeSpec);
    this.#processes.set(id, again);
    await again.ready;
    // A restarted server keeps the links cut before its crash.
    if (this.#cut.length > 0) await this.#applyCut();
  }

  /** Proposes `command` on `id` and waits until it is committed there (a serve process has no Start() without waiting). */
  async propose(id: NodeId, command: Uint8Array): Promise<ProposeResult> {
    const connection = this.#connection(id);
    const reply = await connection.request({ op: 'propose', command }, 5000);
    if (reply.ok) return { isLeader: true, index: (reply as { index: number }).index, term: (reply as { term: number }).term };
    if (reply.code === 'NotLeader') return { isLeader: false, index: 0, term: 0 };
    throw new RaftchartError(reply.code, `${id}: ${reply.message}`, { id, leaderId: reply.leaderId });
  }

  failDisk(): Promise<void> {
    return Promise.reject(unsupported('disk faults'));
  }

  addLearner(): Promise<ConfigChangeResult> {
    return Promise.reject(unsupported('membership changes'));
  }

  promote(): Promise<ConfigChangeResult> {
    return Promise.reject(unsupported('membership changes'));
  }

  removeServer(): Promise<ConfigChangeResult> {
    return Promise.reject(unsupported('membership changes'));
  }

  /** Stops every process (SIGTERM: each syncs its log and releases its lock) and removes the temp folder it made. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.client.close();
    for (const connection of this.#connections.values()) connection.close();
    await Promise.all([...this.#processes.values()].map((serve) => serve.kill('SIGTERM')));
    if (this.#ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  #process(id: NodeId): ServeProcess {
    const serve = this.#processes.get(id);
    if (serve === undefined) throw new RaftchartError('UnknownNode', `no server ${id}: the servers are ${this.nodeIds.join(', ')}.`, { id });
    return serve;
  }

  #connection(id: NodeId): ClientConnection {
    this.#process(id);
    return this.#connections.get(id) as ClientConnection;
  }

  async #ask(id: NodeId, logTailMax: number | null): Promise<StatusReply | null> {
    const serve = this.#process(id);
    if (!serve.running()) {
      this.#lastStatus.delete(id);
      return null;
    }
    const reply = await this.#connection(id).request(logTailMax === null ? { op: 'status' } : { op: 'inspect', logTailMax }, askMs);
    if (!reply.ok) return null;
    this.#lastStatus.set(id, reply as StatusReply);
    return reply as StatusReply;
  }

  #notRunning(id: NodeId): NodeStatus {
    return {
      id, alive: false, failed: false, role: 'follower', term: 0, votedFor: null, leaderId: null, commitIndex: 0, lastApplied: 0, lastLogIndex: 0, lastLogTerm: 0,
      snapshotIndex: 0, firstLogIndex: 1, snapshots: 'on', voters: [], learners: [],
    };
  }

  /** Each server drops what it sends to, or hears from, a server outside its group. */
  async #applyCut(): Promise<void> {
    await Promise.all(
      this.nodeIds.map(async (id) => {
        if (!this.#processes.get(id)?.running()) return;
        const group = this.#cut.find((members) => members.includes(id));
        const cut = group === undefined ? [] : this.nodeIds.filter((other) => !group.includes(other));
        const reply = await this.#connection(id).request({ op: 'links', cut }, askMs);
        if (!reply.ok && reply.code !== 'Unreachable' && reply.code !== 'Timeout') throw new RaftchartError(reply.code, `${id}: ${reply.message}`);
      }),
    );
  }

  #makeNetwork(): ViewedNetwork {
    const cluster = this;
    const setCut = (groups: NodeId[][]) => {
      cluster.#cut = groups;
      void cluster.#applyCut().catch(() => undefined);
    };
    return {
      disconnect: (id) => setCut([[id], cluster.nodeIds.filter((other) => other !== id)]),
      connect: () => setCut([]),
      partition: (groups) => setCut(groups.map((group) => [...group])),
      heal: () => setCut([]),
      setReliable: () => {
        throw unsupported('an unreliable network (use tc netem on a real link)');
      },
      pause: () => {
        throw unsupported('pausing the network');
      },
      resume: () => {
        throw unsupported('pausing the network');
      },
      isPaused: () => false,
      isReliable: () => true,
      isLinkUp: (from, to) => {
        const reply = cluster.#lastStatus.get(from);
        return reply !== undefined && reply.transport.connectedPeers.includes(to) && !reply.transport.cutPeers.includes(to);
      },
      stats: (): NetworkStats => {
        let messages = 0;
        let bytes = 0;
        let dropped = 0;
        let malformed = 0;
        for (const reply of cluster.#lastStatus.values()) {
          messages += reply.transport.messagesSent;
          bytes += reply.transport.bytesSent;
          dropped += reply.transport.messagesDropped;
          malformed += reply.transport.connectionsRefused;
        }
        return { messages, bytes, byType: {}, dropped, malformed };
      },
      // Messages cross sockets between processes: there is no bus to tap.
      tap: () => () => undefined,
    };
  }
}

function statusOf(id: NodeId, status: WorkerStatus): NodeStatus {
  const { detail: _detail, ...rest } = status;
  return { ...rest, id, alive: true };
}

function unsupported(what: string): RaftchartError {
  return new RaftchartError('InvalidOptions', `${what}: not available with --processes (the servers are serve processes on a real network); run without --processes for it.`);
}
