import { raftServerMachine, roleOf, type ProposalAnswer, type ReadAnswer, type SnapshotAnswer, type TransferAnswer } from '../../machines/raft-server.machine.ts';
import type { RaftConfig } from '../../src/core/config.ts';
import type {
  AppendEntries,
  AppendEntriesReply,
  InstallSnapshot,
  InstallSnapshotReply,
  RaftMessage,
  RequestVote,
  RequestVoteReply,
} from '../../src/protocol/messages.ts';
import type { Entry, NodeId, RecoveredState, Role, Snapshot } from '../../src/protocol/types.ts';
import type { StateMachine } from '../../src/host/state-machine-host.ts';
import { ServerHost, type ServerActor as RaftServerActor } from '../../src/host/server-host.ts';
import { VirtualClock } from '../../src/sim/virtual-clock.ts';
import type { Schedule } from '../../src/sim/virtual-disk.ts';
import { paperStorageKindOfEnv, virtualPaperDisks, type PaperDisk, type PaperDisks, type PaperStorageKind } from './paper-disk.ts';
import { WalPaperDisks } from './wal-disk.ts';

/**
 * A hand-driven cluster for the paper's claims, in the manner of etcd-io/raft's raft_paper_test.go:
 * each server has its own virtual clock (so one server can time out while the others wait), a
 * disk that syncs at once unless held, and a network that delivers nothing until told. The disk is
 * the simulator's virtual disk or the real write-ahead log (paper-disk.ts; RAFTCHART_PAPER_STORAGE
 * picks it), under the real durable-log chart either way; every step is synchronous.
 */
export class PaperCluster {
  readonly ids: readonly NodeId[];
  readonly inFlight: RaftMessage[] = [];
  readonly applied = new Map<NodeId, Entry[]>();
  /** Per server (this incarnation): the snapshots its state machine was restored from, in order. */
  readonly restored = new Map<NodeId, Snapshot[]>();
  readonly answers: ProposalAnswer[] = [];
  readonly snapshotAnswers: SnapshotAnswer[] = [];
  readonly readAnswers: ReadAnswer[] = [];
  readonly transferAnswers: TransferAnswer[] = [];
  private readonly stateMachines = new Map<NodeId, CommandListMachine>();
  private readonly clocks = new Map<NodeId, VirtualClock>();
  private readonly hosts = new Map<NodeId, ServerHost>();
  private readonly storage: PaperDisks;
  private readonly disks = new Map<NodeId, PaperDisk>();
  private readonly heldSyncs = new Map<NodeId, (() => void)[]>();
  private readonly errors: unknown[] = [];
  private pendingReads = 0;
  private pendingTransfers = 0;

  constructor(
    ids: readonly NodeId[],
    /** `servers`: the initial voters (default every id), the configuration before any config entry. */
    private readonly options: { config?: Partial<RaftConfig>; seed?: number; machine?: typeof raftServerMachine; servers?: readonly NodeId[] } = {},
  ) {
    this.ids = ids;
    this.storage = paperDisksOf(paperStorageKindOfEnv());
    for (const id of ids) this.disks.set(id, this.storage.disk(id));
  }

  /** A cluster of n servers 'n1' … 'nN', all started. */
  static started(n: number, options: ConstructorParameters<typeof PaperCluster>[1] = {}): PaperCluster {
    const cluster = new PaperCluster(Array.from({ length: n }, (_, i) => `n${i + 1}`), options);
    for (const id of cluster.ids) cluster.start(id);
    return cluster;
  }

  /** Starts `id` from its disk, or from `recovered` written to the disk first. */
  start(id: NodeId, recovered?: RecoveredState): void {
    const disk = this.disk(id);
    if (recovered !== undefined) disk.seed(recovered);
    const clock = new VirtualClock();
    this.clocks.set(id, clock);
    this.applied.set(id, []);
    const schedule: Schedule = (delayMs, run) => {
      const held = this.heldSyncs.get(id);
      if (held !== undefined) {
        let cancelled = false;
        held.push(() => { if (!cancelled) run(); });
        return () => { cancelled = true; };
      }
      const handle = clock.setTimeout(run, delayMs);
      return () => clock.clearTimeout(handle);
    };
    const stateMachine = new CommandListMachine();
    this.stateMachines.set(id, stateMachine);
    this.restored.set(id, []);
    const host = new ServerHost({
      // The paper's Figure 2 elections by default: PreVote (§9.6) and CheckQuorum's vote ignoring
      // (§4.2.3) only where a test asks for them.
      input: { id, servers: this.options.servers ?? this.ids, config: { preVote: false, checkQuorum: false, ...this.options.config }, randomSeed: this.options.seed ?? 1 },
      recovered: disk.open(),
      storage: disk.actors(schedule),
      transport: { send: (message) => this.inFlight.push(message) },
      stateMachine,
      clock,
      ...(this.options.machine === undefined ? {} : { machine: this.options.machine }),
      hooks: {
        onApplied: (entries) => this.applied.get(id)?.push(...entries),
        onRestored: (snapshot) => this.restored.get(id)?.push(snapshot),
        onError: (error) => this.errors.push(error),
      },
    });
    this.hosts.set(id, host);
    const actor = host.actor;
    actor.on('client.proposed', (answer) => this.answers.push(answer));
    actor.on('client.snapshotted', (answer) => this.snapshotAnswers.push(answer));
    actor.on('client.readReady', (answer) => this.readAnswers.push(answer));
    actor.on('client.transferred', (answer) => this.transferAnswers.push(answer));
    host.start();
    clock.runDue();
  }

  /** Ends `id` abruptly: unsynced writes are lost, its clock and messages die with it. */
  crash(id: NodeId): void {
    this.host(id).stop();
    this.hosts.delete(id);
    this.disk(id).crash();
    this.heldSyncs.delete(id);
  }

  /** Holds every sync of `id` until releaseSyncs(id): the disk is slow. */
  holdSyncs(id: NodeId): void {
    this.heldSyncs.set(id, this.heldSyncs.get(id) ?? []);
  }

  /** Lets every held sync of `id` complete, then stops holding. */
  releaseSyncs(id: NodeId): void {
    const held = this.heldSyncs.get(id) ?? [];
    this.heldSyncs.delete(id);
    for (const run of held) run();
    this.clock(id).runDue();
  }

  /** Delivers an event straight to `id` and runs what falls due at once (instant syncs). */
  send(id: NodeId, event: Parameters<RaftServerActor['send']>[0]): void {
    this.actor(id).send(event);
    this.clock(id).runDue();
    this.throwErrors();
  }

  /** Proposes commands to `id` as one batch. */
  propose(id: NodeId, ...commands: string[]): ProposalAnswer {
    const requestId = this.answers.length + 1;
    this.send(id, { type: 'client.propose', requestId, commands: commands.map((c) => new TextEncoder().encode(c)) });
    const answer = this.answers.find((a) => a.requestId === requestId);
    if (answer === undefined) throw new Error(`no answer to proposal ${requestId}`);
    return answer;
  }

  /** Removes and returns the in-flight messages that match. */
  take<M extends RaftMessage>(match: (message: RaftMessage) => message is M): M[];
  take(match?: (message: RaftMessage) => boolean): RaftMessage[];
  take(match: (message: RaftMessage) => boolean = () => true): RaftMessage[] {
    const taken: RaftMessage[] = [];
    for (let i = 0; i < this.inFlight.length; ) {
      if (match(this.inFlight[i])) taken.push(...this.inFlight.splice(i, 1));
      else i++;
    }
    return taken;
  }

  /** Delivers the in-flight messages that match (to live servers; others are lost). */
  deliver(match: (message: RaftMessage) => boolean = () => true): number {
    const messages = this.take(match);
    for (const message of messages) {
      if (this.hosts.has(message.to)) this.send(message.to, message);
    }
    return messages.length;
  }

  /** Delivers until nothing is in flight, at most `roundsMax` rounds. */
  deliverAll(roundsMax = 100, match: (message: RaftMessage) => boolean = () => true): void {
    for (let round = 0; round < roundsMax; round++) {
      if (this.deliver(match) === 0) return;
    }
    throw new Error(`messages still in flight after ${roundsMax} rounds`);
  }

  /** Moves `id`'s clock forward by `ms` (its timers fire; nobody else's). */
  tick(id: NodeId, ms: number): void {
    this.clock(id).advance(ms);
    this.throwErrors();
  }

  /** Ticks `leader` `beats` heartbeats of `heartbeatMs`; each time only the followers in `answering` get and answer its AppendEntries; the rest of its messages are lost. */
  beat(leader: NodeId, beats: number, answering: readonly NodeId[], heartbeatMs: number): void {
    for (let i = 0; i < beats; i++) {
      this.tick(leader, heartbeatMs);
      this.deliver((m) => m.type === 'rpc.appendEntries' && answering.includes(m.to));
      this.deliver((m) => m.type === 'rpc.appendEntries.reply' && m.to === leader);
      this.take((m) => m.from === leader);
    }
  }

  /** Makes `id` time out and start an election now (its whole drawn timeout passes). */
  timeout(id: NodeId): void {
    this.tick(id, this.context(id).electionTimeoutMs);
  }

  /** Makes `id` leader: it times out, every message is delivered until quiet. */
  elect(id: NodeId): void {
    this.timeout(id);
    this.deliverAll();
    if (this.role(id) !== 'leader') throw new Error(`${id} did not win: ${this.role(id)}`);
  }

  /** The commands `id`'s state machine holds, in the order applied (restored ones first). */
  stateOf(id: NodeId): string[] {
    const machine = this.stateMachines.get(id);
    if (machine === undefined) throw new Error(`server ${id} has no state machine`);
    return [...machine.commands];
  }

  /** Asks `id` for a snapshot now (client.snapshot); returns the answer once it came, or null while it is under way. */
  snapshot(id: NodeId): SnapshotAnswer | null {
    const requestId = 1000 + this.snapshotAnswers.length;
    this.send(id, { type: 'client.snapshot', requestId });
    return this.snapshotAnswers.find((a) => a.requestId === requestId) ?? null;
  }

  /** Asks `id` for a read (client.read); returns a function that gives its answer once it came, or null while it waits. */
  read(id: NodeId): () => ReadAnswer | null {
    const requestId = 2000 + this.readAnswers.length + this.pendingReads++;
    this.send(id, { type: 'client.read', requestId });
    return () => this.readAnswers.find((a) => a.requestId === requestId) ?? null;
  }

  /** Asks `id` to hand leadership to `to` (client.transfer); returns a function that gives its answer once it came. */
  transfer(id: NodeId, to: NodeId): () => TransferAnswer | null {
    const requestId = 3000 + this.transferAnswers.length + this.pendingTransfers++;
    this.send(id, { type: 'client.transfer', requestId, to });
    return () => this.transferAnswers.find((a) => a.requestId === requestId) ?? null;
  }

  role(id: NodeId): Role | 'failed' {
    return roleOf(this.actor(id).getSnapshot());
  }

  context(id: NodeId) {
    return this.actor(id).getSnapshot().context;
  }

  /** The (index, term) pairs of `id`'s log, e.g. '1:1 2:1 3:2'. */
  logOf(id: NodeId): string {
    const log = this.context(id).log;
    return log.slice(1, log.lastIndex + 1).map((e) => `${e.index}:${e.term}`).join(' ');
  }

  /** The (index, term) pairs of `id`'s synced log, what a restart would recover. */
  durableLogOf(id: NodeId): string {
    return this.disk(id).recover().entries.map((e) => `${e.index}:${e.term}`).join(' ');
  }

  disk(id: NodeId): PaperDisk {
    const disk = this.disks.get(id);
    if (disk === undefined) throw new Error(`unknown server ${id}`);
    return disk;
  }

  /** Stops every server and releases the disks; idempotent. */
  stop(): void {
    for (const host of this.hosts.values()) host.stop();
    this.hosts.clear();
    this.storage.dispose();
  }

  private host(id: NodeId): ServerHost {
    const host = this.hosts.get(id);
    if (host === undefined) throw new Error(`server ${id} is not running`);
    return host;
  }

  private actor(id: NodeId): RaftServerActor {
    return this.host(id).actor;
  }

  private clock(id: NodeId): VirtualClock {
    const clock = this.clocks.get(id);
    if (clock === undefined) throw new Error(`server ${id} has no clock`);
    return clock;
  }

  private throwErrors(): void {
    if (this.errors.length > 0) throw this.errors[0];
  }
}

/** The harness's state machine: the commands applied, as text; its snapshot is their JSON. */
class CommandListMachine implements StateMachine {
  commands: string[] = [];

  apply(entry: Entry): unknown {
    if (entry.kind === 'command') this.commands.push(new TextDecoder().decode(entry.command));
    return this.commands.length;
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.commands));
  }

  restore(bytes: Uint8Array): void {
    this.commands = JSON.parse(new TextDecoder().decode(bytes)) as string[];
  }
}

function paperDisksOf(kind: PaperStorageKind): PaperDisks {
  switch (kind) {
    case 'virtual':
      return virtualPaperDisks;
    case 'wal-memory':
      return new WalPaperDisks('memory');
    case 'wal-real':
      return new WalPaperDisks('real');
  }
}

/** Entries for a recovered log from a list of terms: terms [1, 1, 2] → indexes 1..3. */
export function entriesOfTerms(terms: readonly number[]): Entry[] {
  return terms.map((term, i) => ({ index: i + 1, term, kind: 'command', command: new TextEncoder().encode(`e${i + 1}t${term}`) }));
}

/** A predicate for `take` and `deliver`: messages of `type`, and addressed to `to` when given. */
export function isMessage<T extends RaftMessage['type']>(type: T, to?: NodeId) {
  return (message: RaftMessage): message is Extract<RaftMessage, { type: T }> =>
    message.type === type && (to === undefined || message.to === to);
}

/** A hand-made RequestVote; the candidate's log is empty unless told. */
export function requestVote(fields: Pick<RequestVote, 'from' | 'to' | 'term'> & Partial<RequestVote>): RequestVote {
  return { type: 'rpc.requestVote', lastLogIndex: 0, lastLogTerm: 0, transfer: false, ...fields };
}

/** A hand-made RequestVote reply, granted unless told. */
export function requestVoteReply(fields: Pick<RequestVoteReply, 'from' | 'to' | 'term'> & Partial<RequestVoteReply>): RequestVoteReply {
  return { type: 'rpc.requestVote.reply', voteGranted: true, ...fields };
}

/** A hand-made AppendEntries: a heartbeat at the start of the log unless told. */
export function appendEntries(fields: Pick<AppendEntries, 'from' | 'to' | 'term'> & Partial<AppendEntries>): AppendEntries {
  return { type: 'rpc.appendEntries', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, round: 0, ...fields };
}

/** A hand-made AppendEntries reply, a success for nothing unless told. */
export function appendEntriesReply(
  fields: Pick<AppendEntriesReply, 'from' | 'to' | 'term'> & Partial<AppendEntriesReply>,
): AppendEntriesReply {
  return { type: 'rpc.appendEntries.reply', success: true, prevLogIndex: 0, matchIndex: 0, conflictTerm: 0, conflictIndex: 0, round: 0, ...fields };
}

/** A hand-made InstallSnapshot: the whole of a small snapshot at index 1 in one chunk unless told. */
export function installSnapshot(fields: Pick<InstallSnapshot, 'from' | 'to' | 'term'> & Partial<InstallSnapshot>): InstallSnapshot {
  const data = fields.data ?? new TextEncoder().encode('state');
  return {
    type: 'rpc.installSnapshot',
    lastIncludedIndex: 1,
    lastIncludedTerm: 1,
    servers: ['n1', 'n2', 'n3'],
    offset: 0,
    data,
    done: true,
    totalBytes: data.byteLength,
    checksum: 0,
    ...fields,
  };
}

/** A hand-made InstallSnapshot reply: nothing held unless told. */
export function installSnapshotReply(fields: Pick<InstallSnapshotReply, 'from' | 'to' | 'term'> & Partial<InstallSnapshotReply>): InstallSnapshotReply {
  return { type: 'rpc.installSnapshot.reply', lastIncludedIndex: 1, offset: 0, installed: false, matchIndex: 0, ...fields };
}
