import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NetworkHub } from '../bus/network-hub.ts';
import type { NetworkStats } from '../bus/network-counters.ts';
import type { BusTap } from '../bus/network-protocol.ts';
import { longReordering, reliableNetwork, unreliableNetwork } from '../bus/fault-model.ts';
import { resolveRaftConfig, type RaftConfig } from '../core/config.ts';
import { hasErrorCode, RaftchartError } from '../protocol/errors.ts';
import type { EntryKind, NodeId } from '../protocol/types.ts';
import { commandBytesMax } from '../protocol/validate.ts';
import type { AppliedBatch, RestoredSnapshot, SnapshotOutcome, WorkerCounters, WorkerStatus, WorkerStatusDetail } from '../host/worker-protocol.ts';
import { unpackEntries } from '../protocol/packing.ts';
import type { ServerInspectionEvent } from '../host/inspection-events.ts';
import { logTailEntriesMax } from '../host/worker-inspection.ts';
export type { ServerInspectionEvent } from '../host/inspection-events.ts';
import { ServerWorker, type DecidedOutcome } from './server-worker.ts';
import { ClusterSession, type SessionOptions } from './session.ts';
import { hasSessionMagic } from '../host/sessions.ts';
import { applyChange, decodeConfiguration, type ConfigChange, type Configuration } from '../core/configuration.ts';

export type { BusTap, BusTapEvent } from '../bus/network-protocol.ts';
export type { NetworkStats } from '../bus/network-counters.ts';
export type { WorkerStatusDetail } from '../host/worker-protocol.ts';

/** Options of LocalCluster.start; every one is checked, a bad one is an InvalidOptions error naming it. */
export interface ClusterOptions {
  /** Servers 'n1' … 'nN', N in [1, 9]. */
  readonly nodes: number;
  /** Each server keeps its write-ahead log in `dataDir/nK`. Default: a fresh temporary folder that stop() removes. */
  readonly dataDir?: string;
  /** Election timeouts are drawn in [min, max] ms (§5.2). Default [150, 300]. */
  readonly electionTimeoutMs?: readonly [number, number];
  /** Default 50; at most half the minimum election timeout (§5.6). */
  readonly heartbeatIntervalMs?: number;
  /** fdatasync the log before a server speaks. Default true; false is for throwaway clusters only. */
  readonly fsync?: boolean;
  /**
   * A leader that no majority answered over a minimum election timeout steps down (CheckQuorum, as
   * etcd runs etcd-io/raft and as hashicorp/raft always does). Default true.
   */
  readonly checkQuorum?: boolean;
  /**
   * PreVote (dissertation §9.6): a server whose election timer fires first asks whether a majority
   * would vote for it, changing nothing, and stands only if so; a server cut off from the majority
   * so cannot raise its term and unseat a healthy leader when it returns. Default true.
   */
  readonly preVote?: boolean;
  /**
   * How read() confirms leadership (dissertation §6.4). 'readIndex' (default): one heartbeat round
   * answered by a majority per batch of reads; correct whatever the clocks do. 'lease': a leader
   * that a majority answered within a minimum election timeout less `clockDriftBound` answers at
   * once; needs checkQuorum, and assumes no server's clock runs faster than another's by more than
   * that fraction and no server pauses longer (a GC, a stopped VM) while it holds the lease.
   */
  readonly readMode?: 'readIndex' | 'lease';
  /** For readMode 'lease': the fraction of a minimum election timeout given up to clock drift. Default 0.1. */
  readonly clockDriftBound?: number;
  /** A client session (session()) with no command in this many log entries expires, on every server alike. Default 100,000. */
  readonly sessionExpiryEntries?: number;
  /**
   * Each server snapshots its state machine once this many entries were applied since its last
   * snapshot, and compacts its log behind it (paper §7). 0: only on snapshot(id). Default 10,000.
   * A state machine without snapshot()/restore() is never compacted (status().snapshots says so).
   */
  readonly snapshotEvery?: number;
  /** Entries kept behind a snapshot for followers that lag a little (etcd's SnapshotCatchUpEntries). Default 1,000. */
  readonly snapshotKeepEntries?: number;
  /**
   * Put each server's log behind a fault-injecting file system, so that failDisk() can break it:
   * for testing what builds on the cluster against a failing disk. Default false (no wrapper).
   */
  readonly diskFaults?: boolean;
  /** Seeds election timeouts and the network's random choices. Default: from the clock. */
  readonly seed?: number;
  /**
   * A module (path or URL) exporting `createStateMachine(nodeId): { apply(entry) → result }`, loaded
   * in each server's worker. Default: the in-memory KeyValueStore (src/io/worker-state-machine.ts).
   */
  readonly stateMachine?: string | URL;
  /**
   * Called on the main thread with every XState inspection event of every server's charts
   * (raft-server and its durable log), made plain in the worker: `raftchart cluster --stately`
   * forwards them to Stately's inspector. Omitted (the default): the workers inspect nothing.
   */
  readonly onInspectionEvent?: (event: ServerInspectionEvent) => void;
}

/** What a server reports of itself, with its id and whether its worker is running. */
export interface NodeStatus extends Omit<WorkerStatus, 'detail'> {
  readonly id: NodeId;
  readonly alive: boolean;
}

/**
 * What to call a server's state when showing it: 'down' when its worker is not running, 'failed'
 * when its durable log gave up (fail-stop: its chart answers nothing, whatever role it last had),
 * else its role.
 */
export function stateShown(s: Pick<NodeStatus, 'alive' | 'failed' | 'role'>): NodeStatus['role'] | 'down' | 'failed' {
  if (!s.alive) return 'down';
  return s.failed ? 'failed' : s.role;
}

/**
 * The leader of the highest term among the running servers in `statuses`, as they reported it;
 * undefined while that term has none (an election is on, or its leader is down). Never a stale
 * leader of an earlier term (§5.1).
 */
export function leaderOf<S extends NodeStatus>(statuses: readonly S[]): S | undefined {
  const alive = statuses.filter((s) => s.alive);
  const term = Math.max(0, ...alive.map((s) => s.term));
  return alive.find((s) => s.role === 'leader' && s.term === term);
}

/** A server's status with its chart's inner state (inspect()); `detail` is null for a crashed server. */
export interface NodeInspection extends NodeStatus {
  readonly detail: WorkerStatusDetail | null;
}

/** Log entries inspect() returns by default, and at most (as many as a worker's status detail carries). */
export const inspectLogTailDefault = 50;
export const inspectLogTailMax = logTailEntriesMax;

/** Raft's Start(): where the command went if this server leads; `isLeader: false` otherwise. */
export interface ProposeResult {
  readonly isLeader: boolean;
  readonly index: number;
  readonly term: number;
}

/**
 * One entry one server applied to its state machine, or (kind 'snapshot') the point where its
 * state machine was restored from a snapshot holding entries 1..index: on a restart from one, or
 * when the leader sent one (InstallSnapshot). The command of a 'snapshot' is empty; entries after
 * index follow it.
 */
export interface AppliedEntry {
  readonly nodeId: NodeId;
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind | 'snapshot';
  readonly command: Uint8Array;
  /** For kind 'config': the configuration the entry puts in force (dissertation §4.1). */
  readonly configuration?: Configuration;
}

/** Options of addLearner, promote and removeServer. */
export interface ConfigChangeOptions {
  /** Send the change to this server only (it must lead: NotLeader otherwise); default: the leader, found and retried on. */
  readonly via?: NodeId;
  /** Give up (Timeout) after this many ms; the change may still commit later: see status().voters. Default 5,000. */
  readonly timeoutMs?: number;
}

/** What a committed membership change resolves: its config entry's index, and the configuration it put in force. */
export interface ConfigChangeResult {
  readonly index: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** What snapshot(id) resolves: the snapshot's last included index and term (0, 0: nothing applied yet). */
export interface SnapshotResult {
  readonly index: number;
  readonly term: number;
}

export interface CommittedResult {
  readonly index: number;
  readonly term: number;
  /** What the state machine's apply returned on that server. */
  readonly result: unknown;
}

/** The network between the servers; changes apply to messages sent from now on. */
export interface ClusterNetwork {
  /** Every message to or from `id` is lost until connect(id). */
  disconnect(id: NodeId): void;
  connect(id: NodeId): void;
  /** Only servers in one group talk; a server in no group talks to nobody. */
  partition(groups: NodeId[][]): void;
  /** Every link up (reliability settings unchanged). */
  heal(): void;
  /** false: drop ~10% of messages and delay each 0–27 ms; true: lossless, no delay. */
  setReliable(reliable: boolean): void;
  /** true: some messages are held 200–2000 ms, arriving far behind later ones. */
  setLongReordering(on: boolean): void;
  stats(): NetworkStats;
  /** Holds every delivery between servers (up to 100,000, then drops) until resume(); sending and counting go on. */
  pause(): void;
  /** Releases the held deliveries in order; normal delivery from now on. */
  resume(): void;
  isPaused(): boolean;
  /** True while setReliable(false) is in force (messages dropped or delayed at random). */
  isReliable(): boolean;
  /** True when the links (disconnect, partition) let a message from `from` reach `to`, before random loss. */
  isLinkUp(from: NodeId, to: NodeId): boolean;
  /**
   * Calls `listener` with every message the bus routes, and its fate, until the returned function
   * is called. Runs on the bus's path: keep it cheap. No tap, no cost.
   */
  tap(listener: BusTap): () => void;
}

/** How long proposeAndWait waits for its entry to apply before giving up (leadership may have moved). */
export const proposeAndWaitMsDefault = 10_000;
const electionTimeoutMsLimit = 60_000;

interface ResolvedOptions {
  readonly nodes: number;
  readonly dataDir: string | null;
  readonly config: Partial<RaftConfig>;
  readonly fsync: boolean;
  readonly diskFaults: boolean;
  readonly seed: number;
  readonly stateMachineModule: string | null;
  readonly onInspectionEvent: ((event: ServerInspectionEvent) => void) | null;
}

/** A proposeAndWait waiting for its server's worker to decide the command (or for its deadline). */
interface Waiter {
  readonly id: NodeId;
  readonly what: 'command' | 'read';
  /** performance.now() past which it rejects with Timeout. */
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly resolve: (result: CommittedResult) => void;
  readonly reject: (error: Error) => void;
}

/**
 * How often waiting proposeAndWait calls are checked against their deadlines: one timer for all
 * of them instead of one per call (a busy cluster has thousands waiting), so a Timeout comes up
 * to this much late.
 */
export const waiterSweepMs = 20;

/**
 * A Raft cluster in this process: each server a worker thread running the raft-server chart over
 * a real write-ahead log in `dataDir/nK`; the message bus in this thread routes their messages
 * through the fault model. Bad input to any method is a RaftchartError with a `code`
 * (InvalidCommand, CommandTooLarge, UnknownNode, Stopped, InvalidOptions); the cluster keeps running.
 */
export class LocalCluster {
  /** The cluster's initial voters, 'n1' … 'nN': every server's configuration before any config entry. */
  #initialVoters: readonly NodeId[];
  /** The servers of this cluster now: the initial ones and those added, less those removed. */
  #members: NodeId[];
  /** Removed servers: stopped, their folders kept until stop(); their ids are not used again. */
  readonly #removed = new Set<NodeId>();
  readonly network: ClusterNetwork;
  readonly seed: number;
  /** Errors of workers that died on their own (a failed assert in a server): should stay empty. */
  readonly workerErrors: { readonly id: NodeId; readonly error: unknown }[] = [];
  readonly #options: ResolvedOptions;
  readonly #dataDir: string;
  readonly #ownsDataDir: boolean;
  readonly #network: NetworkHub;
  readonly #servers = new Map<NodeId, ServerWorker>();
  readonly #incarnations = new Map<NodeId, number>();
  readonly #lastKnown = new Map<NodeId, NodeStatus>();
  readonly #listeners = new Set<(entry: AppliedEntry) => void>();
  /** Every proposeAndWait not yet settled: the worker's answer or the sweep settles it, whichever comes first. */
  readonly #waiters = new Set<Waiter>();
  #waiterSweep: NodeJS.Timeout | null = null;
  /** Int32 [0]: 1 while any onApply listener exists; every worker reads it before posting applied entries. */
  readonly #applyStream = new SharedArrayBuffer(4);
  /** Per server, crash and restart run one at a time in call order. */
  readonly #lifecycle = new Map<NodeId, Promise<unknown>>();
  #stopped = false;
  #stopping: Promise<void> | null = null;
  /** While start() runs: the snapshot restores reported so far, told to listeners once it resolves. */
  #restoresHeld: { readonly id: NodeId; readonly restored: RestoredSnapshot }[] | null = [];

  private constructor(options: ResolvedOptions, dataDir: string, ownsDataDir: boolean) {
    this.#options = options;
    this.#dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.seed = options.seed;
    this.#initialVoters = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    this.#members = [...this.#initialVoters];
    const hub = (this.#network = new NetworkHub());
    const model = hub.model;
    // Every change to the model is sent to each server's sender, which applies it from then on.
    const change = (apply: () => void): void => {
      apply();
      hub.modelChanged();
    };
    this.network = {
      disconnect: (id) => change(() => model.disconnect(this.#known(id))),
      connect: (id) => change(() => model.connect(this.#known(id))),
      partition: (groups) => {
        if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g))) {
          throw new RaftchartError('InvalidOptions', 'partition takes groups of node ids, e.g. [["n1","n2"],["n3"]].');
        }
        const seen = new Set<NodeId>();
        for (const id of groups.flat()) {
          if (seen.has(this.#known(id))) throw new RaftchartError('InvalidOptions', `${id} is in two groups: put each server in at most one.`);
          seen.add(id);
        }
        change(() => model.partition(groups));
      },
      heal: () => change(() => model.heal()),
      setReliable: (reliable) =>
        change(() =>
          model.configure(reliable ? { dropRate: reliableNetwork.dropRate, delayMsMin: reliableNetwork.delayMsMin, delayMsMax: reliableNetwork.delayMsMax } : unreliableNetwork),
        ),
      setLongReordering: (on) => change(() => model.configure(on ? longReordering : { longDelayRate: 0 })),
      stats: () => hub.stats(),
      pause: () => hub.pause(),
      resume: () => hub.resume(),
      isPaused: () => hub.paused,
      isReliable: () => model.settings.dropRate === reliableNetwork.dropRate && model.settings.delayMsMax === reliableNetwork.delayMsMax,
      isLinkUp: (from, to) => model.isLinkUp(this.#known(from), this.#known(to)),
      tap: (listener) => hub.tap(listener),
    };
  }

  /** Starts every server and resolves once each has opened its log and runs. */
  static async start(options: ClusterOptions): Promise<LocalCluster> {
    const resolved = resolveOptions(options);
    const ownsDataDir = resolved.dataDir === null;
    const dataDir = resolved.dataDir ?? (await mkdtemp(join(tmpdir(), 'raftchart-')));
    const cluster = new LocalCluster(resolved, dataDir, ownsDataDir);
    try {
      // Every server opens its log before any runs: no election (and nothing applied) before
      // start() resolves and the caller can listen with onApply.
      // All settle before any failure is reported, so no server is still opening its log after stop().
      // A folder used before says which servers belong (added ones, less removed ones): dataDir/members.json.
      const known = await readMembers(dataDir);
      if (known !== null) {
        // The folder's own initial voters, whatever `nodes` says now: every server's base configuration must be the one its log continues.
        cluster.#initialVoters = known.initial ?? cluster.#initialVoters;
        cluster.#members = known.members;
        for (const id of known.removed) cluster.#removed.add(id);
      }
      const started = await Promise.allSettled(cluster.nodeIds.map((id) => cluster.#startServer(id, false)));
      const failed = started.find((outcome) => outcome.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await Promise.all([...cluster.#servers.values()].map((server) => server.run()));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    // Servers restored from snapshots as they started: tell the listeners the caller adds once
    // start() resolves (in that turn), before anything can be applied after the snapshots.
    const held = cluster.#restoresHeld ?? [];
    cluster.#restoresHeld = null;
    if (held.length > 0) setImmediate(() => held.forEach(({ id, restored }) => cluster.#onRestored(id, restored)));
    return cluster;
  }

  /**
   * The servers of the cluster now, in the order they joined: the initial 'n1' … 'nN' and any added
   * with addLearner, less those removed. Each server's own view of who votes is status(id).voters.
   */
  get nodeIds(): readonly NodeId[] {
    return this.#members;
  }

  /** The folder holding `dataDir/nK` for every server. */
  get dataDir(): string {
    return this.#dataDir;
  }

  /** Whether failDisk() can break a server's disk (started with `diskFaults: true`). */
  get diskFaults(): boolean {
    return this.#options.diskFaults;
  }

  /**
   * Like Raft's Start(): appends `command` if `id` leads, and does not wait for commit. Proposals
   * made in one event-loop turn travel as one message and become one append.
   * {isLeader: false} from a follower, a candidate or a crashed server.
   */
  async propose(id: NodeId, command: Uint8Array): Promise<ProposeResult> {
    this.#checkRunning();
    this.#known(id);
    const owned = checkCommand(command);
    const server = this.#servers.get(id);
    if (server === undefined) return { isLeader: false, index: 0, term: 0 };
    return server.propose(owned);
  }

  /**
   * Proposes `command` on `id` and resolves once `id` has committed and applied it, with its state
   * machine's result. Rejects NotLeader when `id` does not lead, when another entry took that index
   * (leadership changed) or when `id` crashed; Timeout after `timeoutMs` (no majority reachable, or
   * leadership moved unnoticed). Either way: retry on the current leader.
   */
  proposeAndWait(id: NodeId, command: Uint8Array, options: { timeoutMs?: number } = {}): Promise<CommittedResult> {
    return this.#wait(id, 'command', command, options.timeoutMs, (server, owned, onDecided) => server.submitAndWait(owned, onDecided));
  }

  /**
   * A client session (dissertation §6.3): `session.propose(command)` finds the leader, retries on
   * NotLeader and Timeout with the same sequence number, and resolves once the command was applied,
   * exactly once, however many times it was sent. Opening one commits a register entry (its index is
   * the session's id); `{ id }` resumes one. Sessions expire after `sessionExpiryEntries` log entries
   * without a command, and live in snapshots.
   */
  session(options: SessionOptions = {}): Promise<ClusterSession> {
    this.#checkRunning();
    return ClusterSession.open(
      {
        nodeIds: this.nodeIds,
        proposeEnvelope: (id, envelope, timeoutMs) =>
          this.#wait(id, 'envelope', envelope, timeoutMs, (server, owned, onDecided) => server.submitAndWait(owned, onDecided)),
        findLeader: () => this.#findLeader(),
      },
      options,
    );
  }

  /**
   * Runs the read-only `query` on `id`'s state machine without a log entry (ReadIndex, dissertation
   * §6.4): `id` must lead; it records its commit index, confirms it still leads with one heartbeat
   * round answered by a majority (shared by the reads that wait together; with `readMode: 'lease'`,
   * none while its lease holds), waits until it has applied that index, and then asks the state
   * machine's query(). The default key-value store answers `{"op":"get","key":K}`. The result is
   * linearizable: it reflects every command committed before read() was called. Rejects NotLeader
   * (details.leaderId: the leader `id` knows, or null) on a server that does not lead or stopped
   * leading meanwhile, or crashed; Timeout after `timeoutMs` (no majority reachable). Retry on the leader.
   */
  read(id: NodeId, query: Uint8Array, options: { timeoutMs?: number } = {}): Promise<CommittedResult> {
    return this.#wait(id, 'read', query, options.timeoutMs, (server, owned, onDecided) => server.read(owned, onDecided));
  }

  /** One proposeAndWait or read: checked, sent, and settled by the worker's answer or by the deadline sweep, whichever comes first. */
  #wait(
    id: NodeId,
    what: 'command' | 'read' | 'envelope',
    bytes: Uint8Array,
    timeoutMs: number | undefined,
    send: (server: ServerWorker, owned: Uint8Array, onDecided: (outcome: DecidedOutcome) => void) => void,
  ): Promise<CommittedResult> {
    return new Promise<CommittedResult>((resolve, reject) => {
      this.#checkRunning();
      this.#known(id);
      const owned = what === 'envelope' ? bytes : checkCommand(bytes, what === 'read' ? 'query' : 'command');
      const waitMs = timeoutMs ?? proposeAndWaitMsDefault;
      if (!Number.isFinite(waitMs) || waitMs <= 0) {
        throw new RaftchartError('InvalidOptions', `timeoutMs must be a positive number of milliseconds, got ${describe(timeoutMs)}.`);
      }
      const verb = what === 'read' ? 'read' : 'propose';
      const server = this.#servers.get(id);
      if (server === undefined) return reject(new RaftchartError('NotLeader', `${id} is not running: ${verb} on the leader (see status()).`, { id, leaderId: null }));
      const waiter: Waiter = { id, what: what === 'read' ? 'read' : 'command', deadline: performance.now() + waitMs, timeoutMs: waitMs, resolve, reject };
      this.#waiters.add(waiter);
      this.#waiterSweep ??= setInterval(() => this.#sweepWaiters(), waiterSweepMs);
      send(server, owned, (outcome) => {
        // Settled already: it timed out, or the cluster stopped.
        if (!this.#waiters.delete(waiter)) return;
        this.#stopSweepWhenIdle();
        if (outcome.ok) resolve({ index: outcome.index, term: outcome.term, result: outcome.result });
        else if (outcome.code === 'Stopped') reject(new RaftchartError('NotLeader', `${outcome.message}: retry on the leader.`, { id, leaderId: null }));
        else reject(new RaftchartError('NotLeader', `${outcome.message}: ${verb} on the leader (see status()).`, { id, leaderId: outcome.leaderId ?? null }));
      });
    });
  }

  /**
   * Hands leadership from `from`, the leader, to `to` (dissertation §3.10): `from` stops taking
   * proposals (they reject NotLeader naming `to`), brings `to` up to date, and sends it TimeoutNow;
   * `to` stands at once. Resolves with `to`'s status once it leads. Rejects UnknownNode (an id not
   * in the cluster), Stopped (`from` or `to` is not running), NotLeader (`from` does not lead;
   * details.leaderId), TransferInProgress (one is under way), or Timeout when `to` did not take over
   * within an election timeout: `from` then takes proposals again.
   */
  async transferLeadership(from: NodeId, to: NodeId): Promise<NodeStatus> {
    this.#checkRunning();
    this.#known(to);
    const leader = this.#runningServer(from);
    const target = this.#servers.get(to);
    if (target === undefined || !target.alive) throw new RaftchartError('Stopped', `${to} is not running: restart it first, or transfer to another server.`, { id: to });
    const { electionTimeoutMsMax } = resolveRaftConfig(this.#options.config);
    const answer = await leader.transfer(to);
    switch (answer.outcome) {
      case 'alreadyLeader':
        return this.status(to);
      case 'notLeader':
        throw new RaftchartError('NotLeader', `${from} is not the leader (${answer.leaderId === null ? 'no leader is known yet' : `the leader is ${answer.leaderId}`}): transfer from the leader.`, {
          id: from,
          leaderId: answer.leaderId,
        });
      case 'unknownServer':
        throw new RaftchartError('UnknownNode', `${from} does not know ${to} as a server: transfer to one of ${this.nodeIds.join(', ')}.`, { id: to });
      case 'busy':
        throw new RaftchartError('TransferInProgress', `${from} is already handing leadership over: wait for that transfer to end, then try again.`, { id: from });
      case 'stopped':
        throw new RaftchartError('Stopped', `${from} stopped during the transfer: find the leader with status() and try again.`, { id: from });
      case 'timedOut':
        throw transferTimedOut(from, to, electionTimeoutMsMax);
      case 'handedOver':
        break;
    }
    // TimeoutNow is on its way: `to` stands at once. Wait for it to lead, at most the election timeout after which `from` resumes.
    const deadline = performance.now() + electionTimeoutMsMax + transferGraceMs;
    for (;;) {
      const status = await this.status(to);
      if (status.alive && status.role === 'leader') return status;
      if (performance.now() > deadline) throw transferTimedOut(from, to, electionTimeoutMsMax);
      await new Promise((resolve) => setTimeout(resolve, transferPollMs));
    }
  }

  /** Rejects with Timeout every waiter past its deadline; stops the timer once none wait. */
  #sweepWaiters(): void {
    const now = performance.now();
    for (const waiter of this.#waiters) {
      if (waiter.deadline > now) continue;
      this.#waiters.delete(waiter);
      waiter.reject(
        new RaftchartError('Timeout', `the ${waiter.what} on ${waiter.id} was not ${waiter.what === 'read' ? 'answered' : 'applied'} within ${waiter.timeoutMs} ms: leadership may have moved or no majority is reachable; retry on the leader.`, {
          id: waiter.id,
        }),
      );
    }
    this.#stopSweepWhenIdle();
  }

  #stopSweepWhenIdle(): void {
    if (this.#waiters.size > 0 || this.#waiterSweep === null) return;
    clearInterval(this.#waiterSweep);
    this.#waiterSweep = null;
  }

  /**
   * Adds `id` as a learner (dissertation §4.2.1): starts a new server in `dataDir/id` with an empty
   * log, and has the leader append a config entry naming it. The leader sends it the log (or its
   * snapshot); it votes in nothing and counts toward no quorum until promote(id). Resolves once the
   * entry is committed. Rejects InvalidOptions (an id in use or used before, or not of [A-Za-z0-9_-],
   * at most 64), ConfigChangeInProgress (the last change is not committed yet), NotLeader (with
   * `via`: that server does not lead), Timeout; on a refusal the new server is stopped and its folder removed.
   */
  async addLearner(id: NodeId, options: ConfigChangeOptions = {}): Promise<ConfigChangeResult> {
    this.#checkRunning();
    if (typeof id !== 'string' || !serverIdPattern.test(id)) {
      throw invalid('id', `must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-', got ${describe(id)}`);
    }
    if (this.#members.includes(id)) throw new RaftchartError('InvalidOptions', `${id} is a server of this cluster already: add a learner under a new id.`, { id });
    if (this.#removed.has(id)) throw new RaftchartError('InvalidOptions', `${id} was removed from this cluster, and ids are not used again: add the learner under a new id.`, { id });
    this.#members = [...this.#members, id];
    await this.#recordMembers();
    try {
      // Running first, empty and not a voter (it never stands), so the leader reaches it once the change is in force.
      await this.#serially(id, async () => {
        await this.#startServer(id, false);
        await this.#servers.get(id)?.run();
      });
      return await this.#changeConfig({ type: 'addLearner', id }, options);
    } catch (error) {
      // A refusal changed nothing: the new server goes. After a Timeout the entry may still commit, so it stays.
      if (!hasErrorCode(error, 'Timeout')) {
        this.#members = this.#members.filter((member) => member !== id);
        await this.#recordMembers();
        const server = this.#servers.get(id);
        this.#servers.delete(id);
        await server?.shutdown();
        await rm(join(this.#dataDir, id), { recursive: true, force: true });
      }
      throw error;
    }
  }

  /**
   * Makes the learner `id` a voter (dissertation §4.1, §4.2.1), once it has caught up: it holds what
   * the leader held a heartbeat round ago. Resolves once the config entry is committed. Rejects
   * UnknownNode (no such server), InvalidOptions (`id` votes already), LearnerNotCaughtUp (it lags:
   * wait and try again), ConfigChangeInProgress, NotLeader (with `via`), Timeout.
   */
  async promote(id: NodeId, options: ConfigChangeOptions = {}): Promise<ConfigChangeResult> {
    this.#checkRunning();
    this.#known(id);
    return this.#changeConfig({ type: 'promote', id }, options);
  }

  /**
   * Removes the server `id`, voter or learner (dissertation §4.2.2), and once the entry is committed
   * stops it (its folder stays until stop()). A leader removing itself manages the cluster without
   * counting itself until then, and steps down. Rejects UnknownNode, InvalidOptions (`id` is the
   * last voter), ConfigChangeInProgress, NotLeader (with `via`), Timeout.
   */
  async removeServer(id: NodeId, options: ConfigChangeOptions = {}): Promise<ConfigChangeResult> {
    this.#checkRunning();
    this.#known(id);
    const result = await this.#changeConfig({ type: 'remove', id }, options);
    this.#members = this.#members.filter((member) => member !== id);
    this.#removed.add(id);
    await this.#recordMembers();
    await this.#serially(id, async () => {
      const server = this.#servers.get(id);
      this.#servers.delete(id);
      await server?.shutdown();
    });
    return result;
  }

  /** The leader as the servers report it now, or null; a server removed meanwhile is passed over. */
  async #findLeader(): Promise<NodeId | null> {
    const statuses = await Promise.all(this.#members.map((id) => this.status(id).catch(() => null)));
    return leaderOf(statuses.filter((status) => status !== null))?.id ?? null;
  }

  async #recordMembers(): Promise<void> {
    await writeMembers(this.#dataDir, this.#initialVoters, this.#members, [...this.#removed]);
  }

  /** Sends `change` to the leader (or `via`), retrying while no leader is known or its term's no-op is uncommitted; the coded error for a refusal. */
  async #changeConfig(change: ConfigChange, options: ConfigChangeOptions): Promise<ConfigChangeResult> {
    const timeoutMs = options.timeoutMs ?? configChangeMsDefault;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw invalid('timeoutMs', `must be a positive number of milliseconds, got ${describe(timeoutMs)}`);
    if (options.via !== undefined) this.#known(options.via);
    const deadline = performance.now() + timeoutMs;
    const timedOut = () =>
      new RaftchartError('Timeout', `the change (${change.type} ${change.id}) was not committed within ${timeoutMs} ms: it may still be; see status(id).voters and .learners before trying again.`, { id: change.id });
    for (;;) {
      this.#checkRunning();
      if (performance.now() > deadline) throw timedOut();
      const leaderId = options.via ?? (await this.#findLeader());
      const server = leaderId === null ? undefined : this.#servers.get(leaderId);
      if (leaderId === null || server === undefined) {
        if (options.via !== undefined) throw new RaftchartError('NotLeader', `${options.via} is not running: send the change to the leader.`, { id: options.via, leaderId: null });
        await sleep(configChangePollMs);
        continue;
      }
      const { voters: before, learners } = await this.status(leaderId);
      const left = deadline - performance.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        server.changeConfig(change),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, left)))),
      ]).finally(() => clearTimeout(timer));
      if (outcome === null) throw timedOut();
      const what = `${change.type} ${change.id}`;
      switch (outcome.outcome) {
        case 'committed': {
          const configuration = applyChange({ voters: before, learners }, change);
          return { index: outcome.index, voters: configuration.voters, learners: configuration.learners };
        }
        case 'notReady':
          await sleep(configChangePollMs);
          continue;
        case 'notLeader':
        case 'stopped':
        case 'lost':
          if (options.via !== undefined || outcome.outcome === 'lost') {
            const where = outcome.leaderId === null ? 'no leader is known yet' : `the leader is ${outcome.leaderId}`;
            throw new RaftchartError(
              'NotLeader',
              outcome.outcome === 'lost'
                ? `leadership changed before ${what} committed, and it did not: check status(id).voters, then try again.`
                : `${leaderId} is not the leader (${where}): send the change to the leader.`,
              { id: leaderId, leaderId: outcome.leaderId },
            );
          }
          await sleep(configChangePollMs);
          continue;
        case 'inProgress':
          throw new RaftchartError('ConfigChangeInProgress', `the last membership change is not committed yet: one change at a time (§4.1); wait for it, then ${what} again.`, { id: change.id });
        case 'notCaughtUp':
          throw new RaftchartError('LearnerNotCaughtUp', `${change.id} lags the leader by more than a heartbeat round: wait for it to catch up (status(id).lastLogIndex), then promote it.`, { id: change.id });
        case 'exists':
          throw new RaftchartError('InvalidOptions', `${change.id} is a server of the cluster already.`, { id: change.id });
        case 'notLearner':
          throw new RaftchartError('InvalidOptions', `${change.id} is a voter already: only a learner can be promoted.`, { id: change.id });
        case 'lastVoter':
          throw new RaftchartError('InvalidOptions', `${change.id} is the last voter: add and promote another server before removing it.`, { id: change.id });
        case 'unknownServer':
          throw new RaftchartError('UnknownNode', `${leaderId} does not have ${change.id} in its configuration: use one of ${[...before, ...learners].join(', ')}.`, { id: change.id });
      }
    }
  }

  async status(id: NodeId): Promise<NodeStatus> {
    this.#checkRunning();
    this.#known(id);
    const status = (await this.#servers.get(id)?.status()) ?? null;
    return status === null ? this.#notRunning(id) : this.#recordStatus(id, status);
  }

  /** A crashed server: what it last reported (its term and log are on disk), not running. */
  #notRunning(id: NodeId): NodeStatus {
    const last = this.#lastKnown.get(id);
    const never = { term: 0, votedFor: null, commitIndex: 0, lastApplied: 0, lastLogIndex: 0, lastLogTerm: 0, snapshotIndex: 0, firstLogIndex: 1, snapshots: 'on' as const, voters: [], learners: [] };
    return { ...(last ?? never), id, alive: false, failed: false, role: 'follower', leaderId: null };
  }

  /** A running server's status, remembered for when it is not running. */
  #recordStatus(id: NodeId, s: WorkerStatus): NodeStatus {
    const status: NodeStatus = {
      id,
      alive: true,
      failed: s.failed,
      role: s.role,
      term: s.term,
      votedFor: s.votedFor,
      leaderId: s.leaderId,
      commitIndex: s.commitIndex,
      lastApplied: s.lastApplied,
      lastLogIndex: s.lastLogIndex,
      lastLogTerm: s.lastLogTerm,
      snapshotIndex: s.snapshotIndex,
      firstLogIndex: s.firstLogIndex,
      snapshots: s.snapshots,
      voters: s.voters,
      learners: s.learners,
    };
    this.#lastKnown.set(id, status);
    return status;
  }

  /**
   * status() plus the chart's inner state, computed in the worker at the call (for the
   * inspector): active states of the raft-server and durable-log charts, the last `logTailMax`
   * (default 50, at most 200) entries' index and term, a leader's nextIndex and matchIndex per follower.
   */
  async inspect(id: NodeId, options: { logTailMax?: number } = {}): Promise<NodeInspection> {
    this.#checkRunning();
    this.#known(id);
    const logTailMax = options.logTailMax ?? inspectLogTailDefault;
    if (!Number.isInteger(logTailMax) || logTailMax < 0 || logTailMax > inspectLogTailMax) {
      throw invalid('logTailMax', `must be a whole number from 0 to ${inspectLogTailMax}, got ${String(logTailMax)}`);
    }
    const inspected = (await this.#servers.get(id)?.status({ logTailMax })) ?? null;
    if (inspected === null) return { ...this.#notRunning(id), detail: null };
    return { ...this.#recordStatus(id, inspected), detail: inspected.detail ?? null };
  }

  /** Counters at `id`'s worker boundary (malformed messages dropped, …). */
  async workerCounters(id: NodeId): Promise<WorkerCounters> {
    this.#checkRunning();
    return this.#runningServer(id).counters();
  }

  /**
   * Breaks `id`'s disk from now on: every write (or every fdatasync) of its log fails with EIO (or
   * ENOSPC). Its durable log retries, gives up, and the server stops answering (fail-stop:
   * `status(id).failed`), while the others go on. restart(id) gives it a working disk again. Needs a
   * cluster started with `diskFaults: true`.
   */
  async failDisk(id: NodeId, fault: { readonly operation?: 'write' | 'datasync'; readonly code?: 'EIO' | 'ENOSPC' } = {}): Promise<void> {
    this.#checkRunning();
    this.#known(id);
    const operation = fault.operation ?? 'datasync';
    const code = fault.code ?? 'EIO';
    if (operation !== 'write' && operation !== 'datasync') throw invalid('operation', `must be 'write' or 'datasync', got ${JSON.stringify(operation)}`);
    if (code !== 'EIO' && code !== 'ENOSPC') throw invalid('code', `must be 'EIO' or 'ENOSPC', got ${JSON.stringify(code)}`);
    if (!this.#options.diskFaults) throw invalid('diskFaults', 'is off: start the cluster with { diskFaults: true } to break disks');
    await this.#runningServer(id).failDisk({ operation, code });
  }

  /**
   * Makes `id` snapshot its state machine at its applied index now and compact its log behind it
   * (less snapshotKeepEntries); resolves once the snapshot is durable, with its index and term (a
   * snapshot already under way counts; nothing applied since the last one: that one). Rejects
   * InvalidOptions when the state machine has no snapshot()/restore(), Stopped when `id` is
   * crashed or stops meanwhile, UnknownNode, and StorageFailed when the disk failed.
   */
  async snapshot(id: NodeId): Promise<SnapshotResult> {
    this.#checkRunning();
    const outcome = await this.#runningServer(id)
      .snapshot()
      .catch((): SnapshotOutcome => ({ ok: false, reason: 'stopped' }));
    if (outcome.ok) return { index: outcome.index, term: outcome.term };
    switch (outcome.reason) {
      case 'unsupported':
        throw invalid('stateMachine', 'has no snapshot() and restore(): give it both to snapshot and compact the log');
      case 'stopped':
        throw new RaftchartError('Stopped', `${id} stopped before its snapshot was durable: restart it and ask again.`, { id });
      case 'failed':
        throw new RaftchartError('StorageFailed', `${id} could not make its snapshot durable (its state machine or its disk failed): see status(${JSON.stringify(id)}).`, { id });
    }
  }

  /** Hands `batch` to `id`'s worker past the network and the bus's checks: for tests of the worker boundary. */
  injectRaw(id: NodeId, batch: unknown): void {
    this.#checkRunning();
    this.#network.deliverRaw(this.#known(id), batch);
  }

  /**
   * Calls `listener` with every entry each server applies, in order per server; a restarted server
   * re-applies from index 1, or, when it has a snapshot, first tells a 'snapshot' entry (its state
   * machine restored from entries 1..index) and applies from there. Servers that start() brings up
   * from a snapshot tell theirs to the listeners added in the turn start() resolves. Returns a
   * function that stops the calls.
   */
  onApply(listener: (entry: AppliedEntry) => void): () => void {
    this.#listeners.add(listener);
    // Workers post applied entries only while someone listens (shared memory: seen at once).
    Atomics.store(new Int32Array(this.#applyStream), 0, 1);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) Atomics.store(new Int32Array(this.#applyStream), 0, 0);
    };
  }

  /** Ends `id`'s worker abruptly, no goodbye; once resolved nothing more from it is delivered. */
  async crash(id: NodeId): Promise<void> {
    this.#checkRunning();
    this.#known(id);
    await this.#serially(id, async () => {
      const server = this.#servers.get(id);
      if (server === undefined) return;
      this.#servers.delete(id);
      await server.crash();
    });
  }

  /** A new worker recovering from `id`'s folder; a running server is crashed first. */
  async restart(id: NodeId): Promise<void> {
    this.#checkRunning();
    this.#known(id);
    await this.#serially(id, async () => {
      const server = this.#servers.get(id);
      if (server !== undefined) {
        this.#servers.delete(id);
        await server.crash();
      }
      await this.#startServer(id, true);
      await this.#servers.get(id)?.run();
    });
  }

  /** Ends every worker, timer and port; removes the data folder when it was a temporary one. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#lifecycle.values()]);
    const servers = [...this.#servers.values()];
    this.#servers.clear();
    await Promise.all(servers.map((server) => server.shutdown()));
    this.#network.close();
    for (const waiter of this.#waiters) waiter.reject(new RaftchartError('Stopped', 'the cluster was stopped.'));
    this.#waiters.clear();
    this.#stopSweepWhenIdle();
    this.#listeners.clear();
    if (this.#ownsDataDir) await rm(this.#dataDir, { recursive: true, force: true });
    else await Promise.all([...this.#removed].map((id) => rm(join(this.#dataDir, id), { recursive: true, force: true })));
  }

  async #startServer(id: NodeId, breakLock: boolean): Promise<void> {
    const incarnation = (this.#incarnations.get(id) ?? 0) + 1;
    this.#incarnations.set(id, incarnation);
    const onInspectionEvent = this.#options.onInspectionEvent;
    // Declared first: the worker may die (onDied) before start() resolves.
    let server: ServerWorker | undefined;
    server = await ServerWorker.start({
      id,
      servers: this.#initialVoters,
      dir: join(this.#dataDir, id),
      fsync: this.#options.fsync,
      diskFaults: this.#options.diskFaults,
      breakLock,
      randomSeed: (this.seed + incarnation * 7919) >>> 0,
      config: this.#options.config,
      stateMachineModule: this.#options.stateMachineModule,
      applyStream: this.#applyStream,
      network: this.#network,
      networkSeed: (this.seed * 31 + incarnation * 7919 + idHash(id)) >>> 0,
      onApplied: (batch) => this.#onApplied(id, batch),
      onRestored: (restored) => this.#onRestored(id, restored),
      ...(onInspectionEvent === null ? {} : { onInspection: (events: readonly ServerInspectionEvent[]) => events.forEach((event) => onInspectionEvent(event)) }),
      onDied: (error) => {
        this.workerErrors.push({ id, error });
        if (server !== undefined && this.#servers.get(id) === server) this.#servers.delete(id);
      },
    });
    if (this.#stopped) {
      // Graceful: its log is open, and its lock must not outlive this cluster.
      await server.shutdown();
      throw new RaftchartError('Stopped', 'the cluster was stopped while a server started.');
    }
    this.#servers.set(id, server);
  }

  #onApplied(nodeId: NodeId, batch: AppliedBatch): void {
    if (this.#listeners.size > 0) this.#tellListeners(nodeId, batch);
  }

  /** `nodeId`'s state machine jumped to a snapshot: tell listeners, and fail the waiters it passed over (their results are gone). */
  #onRestored(nodeId: NodeId, restored: RestoredSnapshot): void {
    if (this.#restoresHeld !== null) {
      this.#restoresHeld.push({ id: nodeId, restored });
      return;
    }
    const entry: AppliedEntry = { nodeId, index: restored.index, term: restored.term, kind: 'snapshot', command: new Uint8Array(0) };
    for (const listener of this.#listeners) listener(entry);
  }

  #tellListeners(nodeId: NodeId, batch: AppliedBatch): void {
    for (const record of unpackEntries(batch.entries, batch.firstIndex) ?? []) {
      const configuration = record.kind === 'config' ? decodeConfiguration(record.command) : null;
      const entry: AppliedEntry = { nodeId, index: record.index, term: record.term, kind: record.kind, command: record.command, ...(configuration === null ? {} : { configuration }) };
      for (const listener of this.#listeners) listener(entry);
    }
  }

  /** `id`'s worker when it is running; UnknownNode or Stopped (crashed) otherwise. */
  #runningServer(id: NodeId): ServerWorker {
    const server = this.#servers.get(this.#known(id));
    if (server === undefined || !server.alive) throw new RaftchartError('Stopped', `${id} is crashed: restart it first.`, { id });
    return server;
  }

  #serially(id: NodeId, run: () => Promise<void>): Promise<void> {
    const previous = this.#lifecycle.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(run);
    this.#lifecycle.set(id, next);
    return next;
  }

  #checkRunning(): void {
    if (this.#stopped) throw new RaftchartError('Stopped', 'the cluster was stopped: start a new one with LocalCluster.start().');
  }

  #known(id: NodeId): NodeId {
    if (!this.nodeIds.includes(id)) {
      throw new RaftchartError('UnknownNode', `no server '${String(id)}' in this cluster: use one of ${this.nodeIds.join(', ')}.`, { id });
    }
    return id;
  }
}

/** What a server id may be (a folder name too). */
const serverIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
/** How long a membership change waits for its commit by default, and how often it looks for a leader meanwhile. */
const configChangeMsDefault = 5_000;
const configChangePollMs = 20;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Where a cluster's data folder records which servers belong, once membership has changed. */
const membersFile = 'members.json';

/** The members and removed ids a data folder records, or null when it records none (no change was ever made). */
async function readMembers(dataDir: string): Promise<{ initial: NodeId[] | null; members: NodeId[]; removed: NodeId[] } | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, membersFile), 'utf8');
  } catch {
    return null;
  }
  let value: { initial?: unknown; members?: unknown; removed?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch {
    value = {};
  }
  const ids = (list: unknown) => (Array.isArray(list) && list.every((id) => typeof id === 'string' && serverIdPattern.test(id)) ? (list as NodeId[]) : null);
  const members = ids(value.members);
  const removed = ids(value.removed);
  const initial = value.initial === undefined ? null : (ids(value.initial) ?? []);
  if (members === null || removed === null || members.length === 0 || (initial !== null && initial.length === 0)) {
    throw new RaftchartError('InvalidOptions', `${join(dataDir, membersFile)} is damaged: it must hold {"initial": [...], "members": [...], "removed": [...]}; fix or remove it.`);
  }
  return { initial, members, removed };
}

/** Records the members and removed ids in the data folder (written whole, then renamed over the old file). */
async function writeMembers(dataDir: string, initial: readonly NodeId[], members: readonly NodeId[], removed: readonly NodeId[]): Promise<void> {
  const path = join(dataDir, membersFile);
  await writeFile(`${path}.tmp`, JSON.stringify({ initial, members, removed }) + '\n');
  await rename(`${path}.tmp`, path);
}

/** A small hash of a server id: seeds that server's network randomness. */
function idHash(id: NodeId): number {
  if (/^n\d{1,6}$/.test(id)) return Number(id.slice(1));
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h;
}

/** How often transferLeadership looks whether the target leads yet, and how long past an election timeout it waits. */
const transferPollMs = 10;
const transferGraceMs = 200;

function transferTimedOut(from: NodeId, to: NodeId, electionTimeoutMsMax: number): RaftchartError {
  return new RaftchartError(
    'Timeout',
    `${to} did not take over from ${from} within an election timeout (${electionTimeoutMsMax} ms): ${from} takes proposals again unless it lost leadership meanwhile. Check that ${to} is reachable, then try again.`,
    { id: to },
  );
}

/** The command (or read query) to send: refused unless a Uint8Array of at most 1 MiB; a view into a bigger buffer is copied (cloning would copy the whole buffer). */
function checkCommand(command: unknown, what: 'command' | 'query' = 'command'): Uint8Array {
  if (!(command instanceof Uint8Array)) {
    throw new RaftchartError('InvalidCommand', `a ${what} must be a Uint8Array, got ${describe(command)}: encode it first, e.g. new TextEncoder().encode(text).`);
  }
  if (command.byteLength > commandBytesMax) {
    throw new RaftchartError('CommandTooLarge', `a ${what} may hold at most ${commandBytesMax} bytes (1 MiB), got ${command.byteLength}: split it or store the data elsewhere and propose a reference.`, {
      bytes: command.byteLength,
    });
  }
  if (what === 'command' && hasSessionMagic(command)) {
    throw new RaftchartError('InvalidCommand', "a command may not begin with the bytes 0xFF 'R' 'C' 'S' (a session envelope's): propose it through session(), or change its first byte.");
  }
  const whole = command.byteOffset === 0 && command.byteLength === command.buffer.byteLength && command.constructor === Uint8Array;
  return whole ? command : new Uint8Array(command);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}

function invalid(option: string, why: string): RaftchartError {
  return new RaftchartError('InvalidOptions', `${option} ${why}.`, { option });
}

function resolveOptions(options: ClusterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object like { nodes: 3 }');
  const { nodes } = options;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw invalid('nodes', `must be a whole number from 1 to 9, got ${String(nodes)}`);
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir.length === 0)) {
    throw invalid('dataDir', 'must be a non-empty folder path (or left out for a temporary folder)');
  }
  const timeouts = options.electionTimeoutMs ?? [150, 300];
  if (!Array.isArray(timeouts) || timeouts.length !== 2 || !timeouts.every((t) => Number.isInteger(t) && t > 0 && t <= electionTimeoutMsLimit)) {
    throw invalid('electionTimeoutMs', `must be [min, max], whole milliseconds in [1, ${electionTimeoutMsLimit}], got ${JSON.stringify(timeouts)}`);
  }
  if (timeouts[0] > timeouts[1]) throw invalid('electionTimeoutMs', `[${timeouts[0]}, ${timeouts[1]}] is empty: give the minimum first`);
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 50;
  if (!Number.isInteger(heartbeatIntervalMs) || heartbeatIntervalMs <= 0) {
    throw invalid('heartbeatIntervalMs', `must be a positive whole number of milliseconds, got ${String(heartbeatIntervalMs)}`);
  }
  if (options.fsync !== undefined && typeof options.fsync !== 'boolean') throw invalid('fsync', 'must be true or false');
  if (options.checkQuorum !== undefined && typeof options.checkQuorum !== 'boolean') throw invalid('checkQuorum', 'must be true or false');
  if (options.diskFaults !== undefined && typeof options.diskFaults !== 'boolean') throw invalid('diskFaults', 'must be true or false');
  if (options.preVote !== undefined && typeof options.preVote !== 'boolean') throw invalid('preVote', 'must be true or false');
  if (options.readMode !== undefined && options.readMode !== 'readIndex' && options.readMode !== 'lease') {
    throw invalid('readMode', `must be 'readIndex' or 'lease', got ${JSON.stringify(options.readMode)}`);
  }
  if (options.clockDriftBound !== undefined && !(typeof options.clockDriftBound === 'number' && options.clockDriftBound >= 0 && options.clockDriftBound < 1)) {
    throw invalid('clockDriftBound', `must be a fraction in [0, 1), got ${String(options.clockDriftBound)}`);
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw invalid('seed', `must be a whole number, got ${String(options.seed)}`);
  const stateMachine = options.stateMachine;
  if (stateMachine !== undefined && typeof stateMachine !== 'string' && !(stateMachine instanceof URL)) {
    throw invalid('stateMachine', 'must be a module path or URL exporting createStateMachine(nodeId)');
  }
  if (options.onInspectionEvent !== undefined && typeof options.onInspectionEvent !== 'function') {
    throw invalid('onInspectionEvent', 'must be a function (event) => void');
  }
  if (options.sessionExpiryEntries !== undefined && !(Number.isSafeInteger(options.sessionExpiryEntries) && options.sessionExpiryEntries > 0)) {
    throw invalid('sessionExpiryEntries', `must be a whole number > 0, got ${String(options.sessionExpiryEntries)}`);
  }
  for (const key of ['snapshotEvery', 'snapshotKeepEntries'] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw invalid(key, `must be a whole number >= 0, got ${String(value)}`);
  }
  const config: Partial<RaftConfig> = {
    electionTimeoutMsMin: timeouts[0],
    electionTimeoutMsMax: timeouts[1],
    heartbeatIntervalMs,
    checkQuorum: options.checkQuorum ?? true,
    preVote: options.preVote ?? true,
    readMode: options.readMode ?? 'readIndex',
    ...(options.clockDriftBound === undefined ? {} : { clockDriftBound: options.clockDriftBound }),
    ...(options.sessionExpiryEntries === undefined ? {} : { sessionExpiryEntries: options.sessionExpiryEntries }),
    ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }),
    ...(options.snapshotKeepEntries === undefined ? {} : { snapshotKeepEntries: options.snapshotKeepEntries }),
  };
  resolveRaftConfig(config);
  return {
    nodes,
    dataDir: options.dataDir ?? null,
    config,
    fsync: options.fsync ?? true,
    diskFaults: options.diskFaults ?? false,
    seed: options.seed ?? Date.now() % 2 ** 31,
    stateMachineModule: stateMachine === undefined ? null : moduleUrl(stateMachine),
    onInspectionEvent: options.onInspectionEvent ?? null,
  };
}

function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return /^[a-z][a-z0-9+.-]+:/i.test(module) ? module : pathToFileURL(resolve(module)).href;
}
