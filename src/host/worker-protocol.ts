import type { MessagePort } from 'node:worker_threads';
import type { RaftConfig } from '../core/config.ts';
import type { NodeId, Role } from '../protocol/types.ts';
import type { PackedEntries } from '../protocol/packing.ts';
import type { ConfigChangeOutcome, TransferOutcome } from './server-host.ts';
import type { ConfigChange } from '../core/configuration.ts';

/**
 * What the cluster controller (main thread) and a server's worker say to each other.
 *
 * - workerData: a WorkerSetup, with two MessagePorts transferred: `networkPort` (to the network
 *   hub: the fault model, ports to peers and taps; Raft messages themselves go worker to worker on
 *   those peer ports, arrays of WireMessages with entries packed) and `clientPort` (proposals in,
 *   their answers, and applied entries while someone listens, out; each side sending one array per
 *   event-loop turn), and `inspectPort` only when the cluster asked for inspection events
 *   (worker → main: arrays of ServerInspectionEvent).
 * - parentPort: the Comlink control plane, a WorkerControl.
 */

export interface WorkerSetup {
  readonly id: NodeId;
  /** The cluster's initial voters (the configuration before any config entry; the log and snapshot say what it is now). */
  readonly servers: readonly NodeId[];
  /** The server's own folder, holding its write-ahead log. */
  readonly dir: string;
  readonly fsync: boolean;
  /** Wrap the real file system in a FaultFileSystem, so that failDisk() can break it (LocalCluster's diskFaults). */
  readonly diskFaults: boolean;
  /** Take the folder lock over: the controller has just terminated the previous worker (same pid). */
  readonly breakLock: boolean;
  readonly randomSeed: number;
  readonly config: Partial<RaftConfig>;
  /** A module URL exporting `createStateMachine(nodeId)`; omitted: the key-value store. */
  readonly stateMachineModule: string | null;
  /**
   * An Int32 flag the main thread sets to 1 while anyone listens with onApply, 0 otherwise: the
   * worker posts applied entries only while it is 1. Shared memory, so turning it on is seen at
   * once, with no message to race the next apply.
   */
  readonly applyStream: SharedArrayBuffer;
  /** The worker's end of its port to the network hub (src/bus/network-protocol.ts). */
  readonly networkPort: MessagePort;
  /** This incarnation's shared network counters (src/bus/network-counters.ts). */
  readonly networkCounters: SharedArrayBuffer;
  /** Seeds the fates the fault model draws for this server's messages. */
  readonly networkSeed: number;
  readonly clientPort: MessagePort;
  /** Where the worker posts its charts' inspection events (arrays of ServerInspectionEvent); null: inspection off, no cost. */
  readonly inspectPort: MessagePort | null;
}

/**
 * Main → worker on clientPort: proposals made in one turn, one `client.propose` event. With
 * `wait` the worker answers once every command is decided (`decided`: their results, or why
 * not); without, as soon as they are appended (`proposed`: Raft's Start()).
 */
export interface ProposeRequest {
  readonly kind?: 'propose';
  readonly requestId: number;
  /** The commands, packed (src/protocol/packing.ts). */
  readonly commands: PackedEntries;
  readonly wait: boolean;
}

/**
 * Main → worker on clientPort: read-only queries made in one turn, one `client.read` event
 * (ReadIndex or a lease, dissertation §6.4): answered by a ReadAnswerReply once the leader has
 * confirmed it still leads, with each query's result from the state machine's query().
 */
export interface ReadRequest {
  readonly kind: 'read';
  readonly requestId: number;
  /** The queries, packed like commands (src/protocol/packing.ts). */
  readonly queries: PackedEntries;
}

/** What the main thread sends on clientPort: proposals, or reads. */
export type ClientRequest = ProposeRequest | ReadRequest;

/** The answer to a ReadRequest: results[i] is queries[i]'s, run at applied index ≥ index; or none ran, for the coded reason given. */
export interface ReadAnswerReply extends Omit<DecidedProposal, 'type'> {
  readonly type: 'read';
}

/** Committed entries [firstIndex, firstIndex + entries.count) as applied by the worker's state machine: posted only while the main thread listens. */
export interface AppliedBatch {
  readonly type: 'applied';
  readonly firstIndex: number;
  readonly entries: PackedEntries;
}

/**
 * The answer to a ProposeRequest with `wait`: commands [0, results.length) committed and were
 * applied at index, index + 1, … in `term` with those results; the rest (when `failure` is not
 * null) did not, for the coded reason given.
 */
export interface DecidedProposal {
  readonly type: 'decided';
  readonly requestId: number;
  readonly index: number;
  readonly term: number;
  readonly results: readonly unknown[];
  readonly failure: { readonly code: 'NotLeader' | 'Stopped'; readonly message: string; readonly leaderId: NodeId | null } | null;
}

/**
 * The worker's state machine was replaced by a snapshot of entries 1..index (a restart from it,
 * or an InstallSnapshot from the leader): applied entries continue after it.
 */
export interface RestoredSnapshot {
  readonly type: 'restored';
  readonly index: number;
  readonly term: number;
}

/** Worker → main on clientPort, in arrays (one per turn). */
export type ClientReply =
  | { readonly type: 'proposed'; readonly requestId: number; readonly isLeader: boolean; readonly term: number; readonly index: number; readonly count: number }
  | DecidedProposal
  | ReadAnswerReply
  | AppliedBatch
  | RestoredSnapshot;

/** What a snapshot() call gets: the snapshot made durable, or why there is none. */
export type SnapshotOutcome =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: 'unsupported' | 'failed' | 'stopped' };

/** The chart's view of itself, as the control plane reports it. */
export interface WorkerStatus {
  readonly role: Role;
  /** True when the durable log gave up (fail-stop): the server acknowledges nothing. */
  readonly failed: boolean;
  readonly term: number;
  readonly votedFor: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** The last index of the newest durable snapshot (0: none): the log is compacted up to it, less the entries kept. */
  readonly snapshotIndex: number;
  /** The first index the log still holds (lastLogIndex + 1 when it holds none). */
  readonly firstLogIndex: number;
  /**
   * 'on': snapshots every snapshotEvery applied entries; 'manual': only on cluster.snapshot()
   * (snapshotEvery 0); 'unsupported': the state machine has no snapshot()/restore(), so this
   * server never compacts its log and keeps every entry in memory and on disk.
   */
  readonly snapshots: 'on' | 'manual' | 'unsupported';
  /** The configuration in force on this server (the newest in its log, committed or not, §4.1): its voters and learners. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Only when status() was asked for it (the inspector): computed at the call, never tracked. */
  readonly detail?: WorkerStatusDetail;
}

/** What status({ logTailMax }) adds: the chart's inner state, for the inspector. */
export interface WorkerStatusDetail {
  /** The raft-server chart's active leaf states, dot-joined ('leader.replicating'). */
  readonly statePaths: readonly string[];
  /** The election timeout last drawn (§5.2), in ms: what the running follower or candidate timer waits. */
  readonly electionTimeoutMs: number;
  /** The last entries of the log (at most logTailMax, itself at most 200), oldest first. */
  readonly logTail: readonly { readonly index: number; readonly term: number }[];
  /** A leader's view of each follower (Figure 2); null unless leader. */
  readonly progress: Readonly<Record<NodeId, { readonly nextIndex: number; readonly matchIndex: number }>> | null;
  readonly durableLog: {
    /** The durable-log chart's active leaf states ('idle', 'syncing', 'retrying.backingOff', …). */
    readonly statePaths: readonly string[];
    /** The seq of the last request the server made, and of the last one reported synced. */
    readonly requestedSeq: number;
    readonly syncedSeq: number;
    /** Requests waiting for the next batch. */
    readonly queued: number;
    /** Batches the write-ahead log confirmed durable so far (syncs and rewrites). */
    readonly confirmations: number;
  };
}

/** What the caller asks status() to add; omitted: the plain status. */
export interface StatusDetailRequest {
  /** Entries of the log's tail to include, in [0, 200]. */
  readonly logTailMax: number;
}

/** Counters at the worker boundary. */
export interface WorkerCounters {
  readonly messagesReceived: number;
  /** Messages (or whole batches) dropped by validation: wrong shape, bad index, absurd size. */
  readonly malformedDropped: number;
  /** Commands proposed, and the `client.propose` events they became (one per batch). */
  readonly proposalsReceived: number;
  readonly proposeEvents: number;
  /** Inspection events posted, and dropped past inspectionQueueMax; both 0 with inspection off. */
  readonly inspectionEventsPosted: number;
  readonly inspectionEventsDropped: number;
  /** This worker thread's own CPU time so far, in µs (null off Linux), and its GC pauses in ms: see src/io/thread-usage.ts. */
  readonly threadCpuMicros: number | null;
  readonly gcPauseMs: number;
}

/** A broken disk, as LocalCluster.failDisk() injects it: every write or every fdatasync fails with EIO or ENOSPC. */
export interface DiskFault {
  readonly operation: 'write' | 'datasync';
  readonly code: 'EIO' | 'ENOSPC';
}

/** Whether the worker started: the folder's log opened and the chart runs. Errors carry a code (Comlink drops it from thrown errors). */
export type ReadyResult = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly message: string };

/** The control plane a worker exposes over Comlink. */
export interface WorkerControl {
  /** Resolves once the log is open and recovered (the chart is built but not started). */
  ready(): Promise<ReadyResult>;
  /** Starts the chart: timers run, messages and proposals are handled. Once, after ready() was ok. */
  run(): void;
  /** The chart's status; with `detail`, also its inner state (WorkerStatus.detail). */
  status(detail?: StatusDetailRequest): WorkerStatus;
  counters(): WorkerCounters;
  /** Takes a snapshot at the applied index now (or joins the one under way); resolves once it is durable. */
  snapshot(): Promise<SnapshotOutcome>;
  /** Asks this server to hand leadership to `to` (§3.10); resolves with the chart's first answer. */
  transfer(to: NodeId): Promise<TransferOutcome>;
  /** Asks this server, as leader, to change the configuration by one server (§4.1); resolves once committed here, or with why not. */
  changeConfig(change: ConfigChange): Promise<ConfigChangeOutcome>;
  /** From now on every `operation` on this worker's log fails with `code`; false when diskFaults is off. */
  failDisk(fault: DiskFault): boolean;
  /** Stops the chart and closes the log (releasing its lock); the worker then does nothing more. */
  shutdown(): Promise<void>;
}
