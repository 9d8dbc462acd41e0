import { isLeaseValid, roleOf, type raftServerMachine } from '../../machines/raft-server.machine.ts';
import { NetworkModel } from '../bus/fault-model.ts';
import type { RaftConfig } from '../core/config.ts';
import { resolveRaftConfig } from '../core/config.ts';
import { Random } from '../core/random.ts';
import { decodeConfiguration, type ConfigChange } from '../core/configuration.ts';
import type { RaftMessage } from '../protocol/messages.ts';
import type { Entry, NodeId } from '../protocol/types.ts';
import { DigestStateMachine, RegisterMachine } from './digest-state-machine.ts';
import { checkLinearizable, type Operation } from './linearizability.ts';
import { SessionStateMachine, encodeSessionCommand, encodeSessionRegister, isSessionError } from '../host/sessions.ts';
import { InvariantChecker, InvariantViolation, type InvariantName, type ServerView } from './invariants.ts';
import { ServerHost, type ProposalOutcome } from '../host/server-host.ts';
import { VirtualClock } from './virtual-clock.ts';
import { scheduleOn, VirtualDisk, virtualDiskActors } from './virtual-disk.ts';

/** Which faults a run injects. Each is drawn from the run's seed. */
export interface SimFaults {
  /** Lost, duplicated, delayed and long-reordered messages, with rates that change over time. */
  readonly network: boolean;
  /** Partitions, disconnected servers and one-way cuts that change over time. */
  readonly partitions: boolean;
  /** Crashes and restarts at random moments, and crashes right after a vote or an acknowledgement. */
  readonly crashes: boolean;
  /** Syncs that take up to 20 ms instead of under 1 ms. */
  readonly slowDisk: boolean;
  /**
   * Partitions and crashes around elections: a new leader toppled within milliseconds, a leader
   * cut off right after it appends or commits. This is Figure 8's ground (§5.4.2).
   */
  readonly elections: boolean;
  /**
   * Membership changes (dissertation ch. 4): spare servers added as learners, learners promoted,
   * voters and learners removed, the leader too, often by a leader whose term's no-op has not
   * committed yet; a removed server is stopped once its removal commits.
   */
  readonly membership: boolean;
}

export const allFaults: SimFaults = { network: true, partitions: true, crashes: true, slowDisk: true, elections: true, membership: true };
export const noFaults: SimFaults = { network: false, partitions: false, crashes: false, slowDisk: false, elections: false, membership: false };

export interface SimOptions {
  readonly seed: number;
  /** Voting servers, 1..9 (default 5). */
  readonly nodes?: number;
  /** Virtual milliseconds with faults; then faults stop and liveness is checked (default 10,000). */
  readonly durationMs?: number;
  readonly faults?: Partial<SimFaults>;
  readonly config?: Partial<RaftConfig>;
  /** The chart to run (default the real one); tests pass mutants made with `.provide(...)`. */
  readonly machine?: typeof raftServerMachine;
  /** The session layer around the clients' registers (default the real one); tests pass a mutant subclass. */
  readonly sessionTable?: typeof SessionStateMachine;
  /** Every event as it happens, for `raftchart sim --trace`. */
  readonly trace?: (line: string) => void;
}

export interface SimViolation {
  readonly invariant: InvariantName;
  readonly detail: string;
  readonly step: number;
  readonly timeMs: number;
  /** The last events before the violation, oldest first. */
  readonly recent: readonly string[];
  /** The command that replays this run exactly. */
  readonly replay: string;
}

export interface SimReport {
  readonly seed: number;
  readonly nodes: number;
  readonly faults: SimFaults;
  readonly virtualTimeMs: number;
  readonly steps: number;
  readonly elections: number;
  readonly leadersElected: number;
  readonly committed: number;
  readonly acknowledged: number;
  readonly messages: number;
  readonly messagesLost: number;
  readonly crashes: number;
  /** State machine snapshots taken (§7). */
  readonly snapshotsTaken: number;
  /** State machines restored from a snapshot: on a restart from one, or an InstallSnapshot. */
  readonly snapshotsRestored: number;
  /** Membership changes committed (config entries applied by anyone). */
  readonly configChanges: number;
  /** Operations of the key-value clients in the history checked (sets, gets through the log, read()s). */
  readonly kvOperations: number;
  /** 'ok': the history is linearizable; 'unchecked': the search budget ran out; null: the run stopped at a violation first. */
  readonly linearizability: 'ok' | 'unchecked' | null;
  readonly violation: SimViolation | null;
}

/** With faults.elections: the chance a new leader is toppled at once or within 40 ms. */
const toppleNewLeaderChance = 0.5;
/** … that a leader is cut off right after it commits (in-flight messages lost with it). */
const toppleAfterCommitChance = 0.1;
/** … that a leader is toppled right after it appends a client's commands. */
const toppleAfterAppendChance = 0.1;
/** Events kept for a violation report. */
const recentEventsMax = 60;
/** Client requests outstanding at once. */
const clientOutstandingMax = 4;
/** A client forgets a request not acknowledged within this long and asks someone else. */
const clientTimeoutMs = 1000;

/**
 * Simulated key-value clients, each with one operation outstanding, on a few registers: their
 * history is checked for linearizability. Writers set and get through the log; readers only
 * read(), and keep asking the server that answers them, as a client of a deposed leader would.
 */
const kvClientNames = ['wa', 'wb', 'ra', 'rb'];
const kvKeys = ['x', 'y'];
/** The linearizability search's budget per run; past it the run's history is reported unchecked (not a violation). */
const linearizabilityStepsMax = 2_000_000;
/** A key-value client gives up on an operation unanswered this long (shorter than the log client's: the faults come and go faster than a second). */
const kvTimeoutMs = 250;
/** A writer sends a set in its session at most this many times before it records the outcome as unknown. */
const kvSessionAttemptsMax = 4;

/** One key-value client operation: a set or a get through the log, or a read() (ReadIndex or lease). */
interface KvOperation extends Operation {
  via: 'log' | 'read';
  /** The server asked last, when, and how many times. */
  to: NodeId;
  sentAt: number;
  attempts: number;
  /** Refused: send again at the client's next step. */
  retryNow: boolean;
  readonly bytes: Uint8Array;
  /** A writer's set travels in its session's envelope (the same bytes on every attempt); null otherwise. */
  readonly envelope: Uint8Array | null;
  returnedAt: number | null;
  value: string | null;
  /** Settled: answered, known not to have happened (dropped from the history), or given up on (indeterminate). */
  settled: boolean;
}

interface SimServer {
  readonly id: NodeId;
  /** 'spare': not started yet, waiting to be added; 'member': started (added, or one of the initial voters); 'removed': stopped for good. */
  state: 'spare' | 'member' | 'removed';
  readonly disk: VirtualDisk;
  host: ServerHost | null;
  incarnation: number;
  role: string;
}

interface PendingRequest {
  readonly to: NodeId;
  readonly sentAt: number;
  readonly commands: readonly Uint8Array[];
}

/**
 * Runs one whole cluster in one thread from one seed: N unmodified raft-server charts on a virtual
 * clock, a virtual network (the shared fault model), virtual disks, crashes and restarts, and a
 * client; every invariant is checked after every step. The same options give the same run, event
 * for event. Stops at the first violation and reports it with the command that replays it.
 */
export function simulate(options: SimOptions): SimReport {
  return new Simulation(options).run();
}

class Simulation {
  private readonly clock = new VirtualClock();
  private readonly nodes: number;
  /** Every server of the run: the initial voters n1..nN, then the spares membership changes may add. */
  private readonly ids: NodeId[];
  private readonly initialIds: NodeId[];
  /** The configuration committed last (as the first server to apply its entry saw it), and that entry's index. */
  private committedMembers: Set<NodeId>;
  private committedConfigIndex = 0;
  private configChanges = 0;
  private readonly membershipRandom: Random;
  private readonly faults: SimFaults;
  private readonly config: RaftConfig;
  private readonly durationMs: number;
  /** Every message takes 1–3 ms until a fault says otherwise. */
  private readonly net = new NetworkModel({ delayMsMin: 1, delayMsMax: 3 });
  private readonly netRandom: Random;
  private readonly faultRandom: Random;
  private readonly clientRandom: Random;
  private readonly diskRandom: Random;
  private readonly servers: SimServer[];
  private readonly checker: InvariantChecker;
  /** A ring of the last events, formatted only for a violation report. */
  private readonly recent: (() => string)[] = [];
  private recentNext = 0;
  private readonly errors: unknown[] = [];
  private syncLatencyMsMax = 1;
  private steps = 0;
  private elections = 0;
  private leadersElected = 0;
  private acknowledged = 0;
  private messages = 0;
  private messagesLost = 0;
  private crashes = 0;
  private snapshotsTaken = 0;
  private snapshotsRestored = 0;
  private faultsOn = true;
  /** Faults come in storms with calm between, so leaders get to replicate before the next blow. */
  private storm = false;
  private quietSince = Infinity;
  private ackedSinceQuiet = false;
  private leaderSinceQuiet = false;
  private believedLeader: NodeId | null = null;
  /** Lulls: spells in which no client writes (reads go on), so logs stop growing and a cut-off server's log can be as up to date as anyone's. */
  private lull = false;
  private commandNext = 1;
  private readonly pending = new Set<PendingRequest>();
  /** Entries leaders committed during the step under way, with their voters as the step began; checked once it is over. */
  private readonly committedInStep: { readonly entry: Entry; readonly host: ServerHost; readonly voters: readonly NodeId[] }[] = [];
  /** The key-value clients' operations, in invocation order; dropped ones are removed. */
  private readonly kvHistory: KvOperation[] = [];
  private readonly kvOutstanding = new Map<string, KvOperation>();
  /** Each key-value client's own idea of the leader: clients that disagree reach different servers, as real ones do. */
  private readonly kvLeaders = new Map<string, NodeId>();
  /** The writers' sessions (§6.3): id, next sequence number, and what they confirmed. */
  private readonly kvSessions = new Map<string, { id: number; seqNext: number; ackedThrough: number; answered: Set<number>; seqs: Map<string, number> }>();
  private readonly kvRegistering = new Set<string>();
  private kvValueNext = 1;
  private readonly kvRandom: Random;
  /** What the linearizability check of the run found: 'ok', 'unchecked' (search budget spent), or null before the end. */
  linearizability: 'ok' | 'unchecked' | null = null;

  constructor(private readonly options: SimOptions) {
    this.nodes = options.nodes ?? 5;
    if (!Number.isInteger(this.nodes) || this.nodes < 1 || this.nodes > 9) {
      throw new RangeError(`nodes must be a whole number from 1 to 9, got ${this.nodes}`);
    }
    this.faults = { ...allFaults, ...options.faults };
    this.membershipRandom = new Random(options.seed, 'sim/membership');
    const spares = this.faults.membership ? this.membershipRandom.int(1, 3) : 0;
    this.initialIds = Array.from({ length: this.nodes }, (_, i) => `n${i + 1}`);
    this.ids = Array.from({ length: this.nodes + spares }, (_, i) => `n${i + 1}`);
    this.committedMembers = new Set(this.initialIds);
    this.config = resolveRaftConfig({ ...drawConfig(new Random(options.seed, 'sim/config')), ...options.config });
    this.durationMs = options.durationMs ?? 10_000;
    this.netRandom = new Random(options.seed, 'sim/network');
    this.faultRandom = new Random(options.seed, 'sim/faults');
    this.clientRandom = new Random(options.seed, 'sim/client');
    this.diskRandom = new Random(options.seed, 'sim/disk');
    this.kvRandom = new Random(options.seed, 'sim/kv');
    this.servers = this.ids.map((id, i) => ({ id, state: i < this.nodes ? 'member' : 'spare', disk: new VirtualDisk(), host: null, incarnation: 0, role: 'down' }));
    this.checker = new InvariantChecker(() => this.servers.map((s) => this.view(s)));
    for (const server of this.servers) {
      server.disk.onDurableTruncation = (_from, removed) => this.guarded(() => this.checker.onDurableTruncation(server.id, removed));
    }
  }

  run(): SimReport {
    let violation: SimViolation | null = null;
    try {
      if (this.faults.slowDisk) this.syncLatencyMsMax = 20;
      for (const server of this.members()) this.start(server);
      this.scheduleClient();
      if (this.faults.membership) this.scheduleMembership();
      this.scheduleLulls();
      for (const client of kvClientNames) this.scheduleKvClient(client);
      if (this.faults.network || this.faults.partitions || this.faults.crashes) {
        this.scheduleWeather();
        this.scheduleNemesis();
      }
      this.clock.setTimeout(() => this.stopFaults(), this.durationMs);
      const livenessBoundMs = 10 * this.config.electionTimeoutMsMax;
      this.clock.setTimeout(() => this.checkLeaderElected(), this.durationMs + livenessBoundMs);
      this.clock.setTimeout(() => this.checkCommandCommitted(), this.durationMs + 2 * livenessBoundMs);
      const end = this.durationMs + 2 * livenessBoundMs;
      while (this.clock.nextAt() !== undefined && (this.clock.nextAt() as number) <= end) {
        this.clock.runNext();
        this.steps++;
        if (this.errors.length > 0) throw this.errors[0];
        this.checker.afterStep();
        this.checkCommitted();
        if (this.config.readMode === 'lease') this.checkLeases();
        // Liveness shown: a leader and a command committed after faults stopped. Nothing is left to learn.
        if (this.leaderSinceQuiet && this.ackedSinceQuiet) break;
      }
      this.checkLinearizability();
    } catch (error) {
      violation = this.violationFrom(error);
    } finally {
      for (const server of this.servers) server.host?.stop();
    }
    return {
      seed: this.options.seed,
      nodes: this.nodes,
      faults: this.faults,
      virtualTimeMs: this.clock.now,
      steps: this.steps,
      elections: this.elections,
      leadersElected: this.leadersElected,
      committed: this.checker.committedCount,
      acknowledged: this.acknowledged,
      messages: this.messages,
      messagesLost: this.messagesLost,
      crashes: this.crashes,
      snapshotsTaken: this.snapshotsTaken,
      snapshotsRestored: this.snapshotsRestored,
      configChanges: this.configChanges,
      kvOperations: this.kvHistory.length,
      linearizability: this.linearizability,
      violation,
    };
  }

  /**
   * Lease safety (dissertation §6.4.1): while a leader holds a lease (a majority answered a round
   * recent enough), no server leads in a later term; else its lease reads could miss that leader's
   * writes. Checked after every step with readMode 'lease' (the simulation's clocks do not drift).
   */
  private checkLeases(): void {
    for (const holder of this.servers) {
      if (holder.role !== 'leader' || holder.host === null) continue;
      const context = holder.host.actor.getSnapshot().context;
      if (!isLeaseValid(context)) continue;
      for (const other of this.servers) {
        const term = other.host?.actor.getSnapshot().context.currentTerm ?? 0;
        if (other.role === 'leader' && term > context.currentTerm) {
          throw new InvariantViolation('Lease Safety', `${other.id} leads in term ${term} while ${holder.id} (term ${context.currentTerm}) still holds a lease`);
        }
      }
    }
  }

  /**
   * Every entry a leader committed in the step just run must be durable on a majority of the voters
   * it counted (§4.1): those of its configuration as the step began, or as it ended (a removal
   * appended in the step is in force at once and can commit entries right away).
   */
  private checkCommitted(): void {
    if (this.committedInStep.length === 0) return;
    for (const { entry, host, voters } of this.committedInStep) this.checker.onCommitted(entry, [voters, host.actor.getSnapshot().context.voters]);
    this.committedInStep.length = 0;
  }

  /** The key-value clients' history must be linearizable (Wing & Gong / Lowe, src/sim/linearizability.ts). */
  private checkLinearizability(): void {
    const history = this.kvHistory.map(({ client, kind, key, value, invokedAt, returnedAt }) => ({ client, kind, key, value, invokedAt, returnedAt }));
    const result = checkLinearizable(history, { stepsMax: linearizabilityStepsMax });
    if (!result.ok) throw new InvariantViolation('Linearizability', result.explanation ?? `key ${result.key} has no linearization`);
    this.linearizability = result.gaveUp ? 'unchecked' : 'ok';
  }

  private scheduleKvClient(client: string): void {
    this.clock.setTimeout(() => {
      this.guarded(() => this.kvStep(client));
      this.scheduleKvClient(client);
    }, this.kvRandom.int(2, 30));
  }

  /**
   * One key-value client's turn: gives up on an operation unanswered for kvTimeoutMs (a write
   * then stays in the history with an unknown outcome, as Jepsen records it), or sends the next:
   * a set or a get through the log, or a read().
   */
  private kvStep(client: string): void {
    const outstanding = this.kvOutstanding.get(client);
    if (outstanding !== undefined) {
      if (!outstanding.retryNow && this.clock.now - outstanding.sentAt <= kvTimeoutMs) return;
      // A set in a session is sent again, the same bytes (same sequence number), to whoever leads now (§6.3).
      if (outstanding.envelope !== null && outstanding.attempts < kvSessionAttemptsMax) return this.kvSend(outstanding);
      this.kvGiveUp(outstanding);
    }
    const writer = client.startsWith('w');
    if (writer && this.lull && this.faultsOn) return;
    const session = this.kvSessions.get(client);
    if (writer && session === undefined) return this.kvRegister(client);
    const r = this.kvRandom;
    const key = r.pick(kvKeys);
    const kind = writer && r.int(0, 9) < 6 ? 'set' : 'get';
    const via = writer ? 'log' : 'read';
    const value = kind === 'set' ? `${client}${this.kvValueNext++}` : null;
    const bytes = new TextEncoder().encode(JSON.stringify(kind === 'set' ? { op: 'set', key, value } : { op: 'get', key }));
    let envelope: Uint8Array | null = null;
    if (kind === 'set' && session !== undefined) {
      const seq = session.seqNext++;
      envelope = encodeSessionCommand(session.id, seq, session.ackedThrough, bytes);
      session.seqs.set(value as string, seq);
    }
    const op: KvOperation = { client, kind, key, value, invokedAt: this.clock.now, returnedAt: null, via, to: '', sentAt: 0, attempts: 0, retryNow: false, bytes, envelope, settled: false };
    this.kvHistory.push(op);
    this.kvOutstanding.set(client, op);
    this.kvSend(op);
  }

  /** Sends (or sends again) `op` to the server its client believes leads. */
  private kvSend(op: KvOperation): void {
    const to = this.kvLeaders.get(op.client) ?? this.kvRandom.pick(this.ids);
    const host = this.serverOf(to).host;
    op.to = to;
    op.sentAt = this.clock.now;
    op.attempts++;
    op.retryNow = false;
    if (host === null) {
      this.kvLeaders.delete(op.client);
      op.retryNow = true;
      if (op.envelope === null) this.kvDrop(op);
      return;
    }
    this.kvLeaders.set(op.client, to);
    const what = op.kind === 'set' ? `set ${op.key}=${op.value}` : `get ${op.key}`;
    this.note(() => `${op.client} → ${to}: ${what} (${op.via === 'read' ? 'read()' : op.envelope === null ? 'through the log' : `session, attempt ${op.attempts}`})`);
    if (op.via === 'read') {
      host.read([op.bytes], (outcome) =>
        this.guarded(() => {
          if (outcome.failure === null) this.kvReturn(op, outcome.results[0] as string | null);
          else this.kvFailed(op, outcome.failure.leaderId, to);
        }),
      );
      return;
    }
    host.propose([op.envelope ?? op.bytes], {
      onAppended: (answer) =>
        this.guarded(() => {
          // Not appended: this attempt never happens.
          if (!answer.isLeader) this.kvFailed(op, answer.leaderId, to, true);
        }),
      onDecided: (outcome) =>
        this.guarded(() => {
          if (outcome.failure !== null) return this.kvFailed(op, outcome.failure.leaderId, to);
          const result = outcome.results[0];
          if (isSessionError(result)) throw new InvariantViolation('Exactly Once', `${op.client}'s session was refused: ${result.message}`);
          this.kvReturn(op, op.kind === 'set' ? op.value : (result as string | null));
        }),
    });
  }

  /** Opens `client`'s session: a register entry, whose index is its id (§6.3). */
  private kvRegister(client: string): void {
    if (this.kvRegistering.has(client)) return;
    const to = this.kvLeaders.get(client) ?? this.kvRandom.pick(this.ids);
    const host = this.serverOf(to).host;
    if (host === null) return;
    this.kvRegistering.add(client);
    this.clock.setTimeout(() => this.kvRegistering.delete(client), kvTimeoutMs);
    host.propose([encodeSessionRegister()], {
      onDecided: (outcome) =>
        this.guarded(() => {
          if (outcome.failure !== null || this.kvSessions.has(client)) {
            this.kvLeaders.delete(client);
            return;
          }
          const { session } = outcome.results[0] as { session: number };
          this.kvSessions.set(client, { id: session, seqNext: 1, ackedThrough: 0, answered: new Set(), seqs: new Map() });
          this.note(`${client} opens session ${session}`);
        }),
    });
  }

  private kvReturn(op: KvOperation, value: string | null): void {
    if (op.settled) return;
    op.settled = true;
    op.returnedAt = this.clock.now;
    op.value = value;
    this.kvOutstanding.delete(op.client);
    this.note(() => `${op.client} ← ${op.kind} ${op.key} = ${String(value)}`);
    this.kvSettleSeq(op);
  }

  /** A session set answered or given up: its number counts as answered (the client never sends it again), and what the session confirms moves up. */
  private kvSettleSeq(op: KvOperation): void {
    const session = this.kvSessions.get(op.client);
    const seq = op.value === null ? undefined : session?.seqs.get(op.value);
    if (session === undefined || seq === undefined) return;
    session.seqs.delete(op.value as string);
    session.answered.add(seq);
    while (session.answered.has(session.ackedThrough + 1)) session.answered.delete(++session.ackedThrough);
  }

  /** Refused or lost: a get constrains nothing and is dropped; a set that was never appended is dropped too, else its outcome is unknown. */
  private kvFailed(op: KvOperation, leaderId: NodeId | null, to: NodeId, neverAppended = false): void {
    if (op.settled || op.to !== to) return;
    if (leaderId !== null && leaderId !== to) this.kvLeaders.set(op.client, leaderId);
    else this.kvLeaders.delete(op.client);
    // A set in a session is retried (next step), never given up at the first refusal.
    if (op.envelope !== null && op.attempts < kvSessionAttemptsMax) {
      op.retryNow = true;
      return;
    }
    // A set sent more than once (a session's) may have been appended by an earlier attempt.
    if (op.kind === 'get' || (neverAppended && op.attempts === 1)) this.kvDrop(op);
    else this.kvGiveUp(op);
  }

  private kvGiveUp(op: KvOperation): void {
    if (op.settled) return;
    op.settled = true;
    this.kvLeaders.delete(op.client);
    this.kvSettleSeq(op);
    this.kvOutstanding.delete(op.client);
    if (op.kind === 'get') this.kvDrop(op);
    else this.note(() => `${op.client} gives up on set ${op.key}=${op.value}: outcome unknown`);
  }

  private kvDrop(op: KvOperation): void {
    op.settled = true;
    this.kvOutstanding.delete(op.client);
    const at = this.kvHistory.lastIndexOf(op);
    if (at >= 0) this.kvHistory.splice(at, 1);
  }

  private view(server: SimServer): ServerView {
    const snapshot = server.host?.actor.getSnapshot();
    return {
      id: server.id,
      incarnation: server.incarnation,
      alive: server.host !== null,
      role: server.role,
      term: snapshot?.context.currentTerm ?? 0,
      log: snapshot?.context.log as ServerView['log'],
      disk: server.disk,
    };
  }

  private start(server: SimServer): void {
    server.incarnation++;
    const incarnation = server.incarnation;
    // A listener must not throw into XState (it would rethrow later, outside the run): errors are
    // kept and raised after the step.
    const host = new ServerHost({
      input: { id: server.id, servers: this.initialIds, config: this.config, randomSeed: this.options.seed * 31 + incarnation },
      recovered: server.disk.recover(),
      storage: virtualDiskActors(server.disk, scheduleOn(this.clock), () => this.diskRandom.int(0, this.syncLatencyMsMax)),
      transport: { send: (message) => this.guarded(() => this.send(server, message)) },
      stateMachine: new DigestStateMachine(
        new (this.options.sessionTable ?? SessionStateMachine)(
          new RegisterMachine((value) =>
            this.errors.push(new InvariantViolation('Exactly Once', `${server.id} applied the set of ${value} twice: a retried command in a session must be answered from the session table`)),
          ),
          this.config.sessionExpiryEntries,
        ),
      ),
      sessionsIncluded: true,
      clock: this.clock,
      ...(this.options.machine === undefined ? {} : { machine: this.options.machine }),
      hooks: {
        onApplied: (entries) => this.guarded(() => this.onApply(server, entries)),
        onRestored: (snapshot) =>
          this.guarded(() => {
            this.snapshotsRestored++;
            this.note(`${server.id} restores its state machine from the snapshot of ${snapshot.index}/t${snapshot.term}`);
            this.checker.onRestore(this.view(server), snapshot);
          }),
        onSnapshotTaken: (index, data) =>
          this.guarded(() => {
            this.snapshotsTaken++;
            this.note(`${server.id} snapshots its state machine at ${index}`);
            this.checker.onSnapshotTaken(this.view(server), index, data);
          }),
        onStep: (snapshot) => {
          const role = roleOf(snapshot);
          if (role === server.role) return;
          server.role = role;
          if (role === 'candidate') this.elections++;
          this.note(`${server.id} becomes ${role} in term ${snapshot.context.currentTerm}`);
          if (role === 'leader') {
            this.leadersElected++;
            if (this.clock.now >= this.quietSince) this.leaderSinceQuiet = true;
            this.maybeTopple(server);
            // A change asked of a leader at once, before its term's no-op can commit (Ongaro's 2015 case): refused, and retried later.
            if (this.faults.membership && this.faultsOn && this.membershipRandom.chance(0.3)) this.guarded(() => this.membershipStep(server));
          }
        },
        onError: (error) => this.errors.push(error),
      },
    });
    server.host = host;
    server.role = 'follower';
    host.start();
  }

  private guarded(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.errors.push(error);
    }
  }

  private crash(server: SimServer, why: string): void {
    if (server.host === null) return;
    server.host.stop();
    server.host = null;
    server.role = 'down';
    server.disk.crash();
    this.crashes++;
    this.note(`${server.id} crashes (${why}); unsynced writes lost`);
  }

  private restart(server: SimServer): void {
    if (server.host !== null || server.state !== 'member') return;
    this.note(`${server.id} restarts from its disk`);
    this.start(server);
  }

  private send(from: SimServer, message: RaftMessage): void {
    this.messages++;
    const delays = this.net.decide(message.from, message.to, this.netRandom);
    if (delays.length === 0) {
      this.messagesLost++;
      this.note(() => `${describeMessage(message)} LOST`);
      return;
    }
    for (const delay of delays) {
      this.clock.setTimeout(() => {
        const target = this.serverOf(message.to);
        if (target.host === null) return;
        if (!this.net.isLinkUp(message.from, message.to)) {
          // A partition that forms while a message is in flight drops it too.
          this.messagesLost++;
          this.note(() => `${describeMessage(message)} LOST in flight`);
          return;
        }
        this.note(() => describeMessage(message));
        if (message.type !== 'rpc.preVote') {
          target.host.deliver(message);
          return;
        }
        // PreVote changes nothing at the voter (§9.6): not its term.
        const termBefore = target.host.actor.getSnapshot().context.currentTerm;
        target.host.deliver(message);
        const termAfter = target.host?.actor.getSnapshot().context.currentTerm ?? termBefore;
        if (termAfter !== termBefore) {
          throw new InvariantViolation('PreVote', `${message.to} went from term ${termBefore} to ${termAfter} answering ${describeMessage(message)}`);
        }
      }, delay);
    }
    if (this.faultsOn && this.faults.crashes && isAcknowledgement(message) && this.faultRandom.chance(crashAfterChance(message))) {
      // Crash right after speaking: what was acknowledged must already be durable (§5.5).
      this.clock.setTimeout(() => this.crash(from, `right after ${message.type}`), this.faultRandom.int(0, 2));
      this.clock.setTimeout(() => this.restart(from), this.faultRandom.int(5, 300));
    }
  }

  /**
   * Partitions and crashes around elections: a new leader is often cut off or crashed within
   * milliseconds, leaving entries of its term on a few servers only. This is the ground of
   * Figure 8, where counting replicas of an earlier term's entry goes wrong (§5.4.2).
   */
  private maybeTopple(leader: SimServer): void {
    if (!this.faultsOn || !this.faults.elections || !this.faultRandom.chance(toppleNewLeaderChance)) return;
    // Often at once, before its no-op reaches anyone: a divergent entry of a new term (Figure 8 (b)).
    this.topple(leader, this.faultRandom.chance(0.5) ? 0 : this.faultRandom.int(1, 40), 'new leader');
  }

  /** Crashes or cuts off `leader` after `afterMs`, and brings it back later. */
  private topple(leader: SimServer, afterMs: number, why: string, crashAllowed = true, isolate = false): void {
    if (!this.faultsOn || !this.faults.elections) return;
    const r = this.faultRandom;
    const crash = crashAllowed && r.chance(0.3);
    this.clock.setTimeout(() => {
      if (!this.faultsOn) return;
      if (crash) {
        this.crash(leader, `${why}: toppled`);
        this.clock.setTimeout(() => this.restart(leader), r.int(20, 600));
      } else {
        if (isolate) {
          // Jepsen's "isolate the leader": the leader alone, everyone else together, so a server
          // the leader could not reach (and so could not overwrite) may now win.
          this.net.heal();
          this.net.partition([[leader.id], this.ids.filter((id) => id !== leader.id)]);
        } else {
          this.net.disconnect(leader.id);
        }
        this.note(`links: ${this.net.describe()} (${why}: cut off)`);
        this.clock.setTimeout(() => {
          if (isolate) this.net.heal();
          else this.net.connect(leader.id);
          this.note(`links: ${this.net.describe()}`);
        }, r.int(20, 600));
      }
    }, afterMs);
  }

  private onApply(server: SimServer, entries: readonly Entry[]): void {
    this.checker.onApply(this.view(server), entries);
    const snapshot = server.host?.actor.getSnapshot();
    if (server.host != null && snapshot !== undefined && roleOf(snapshot) === 'leader') {
      // Entries of its own term that a leader applies it has just committed: checked once the step is over.
      const { currentTerm, voters } = snapshot.context;
      for (const entry of entries) if (entry.term === currentTerm) this.committedInStep.push({ entry, host: server.host, voters });
    }
    if (this.faults.membership) for (const entry of entries) if (entry.kind === 'config' && entry.index > this.committedConfigIndex) this.onConfigCommitted(entry);
    // Cut off (in-flight messages lost too) right after committing: Figure 8's step (c)→(d).
    if (server.role === 'leader' && this.faults.elections && this.faultRandom.chance(toppleAfterCommitChance)) {
      this.topple(server, 0, 'right after it committed', false, true);
    }
  }

  /** A client is told its commands committed (those that did). */
  private onDecided(request: PendingRequest, outcome: ProposalOutcome): void {
    // Their durability was checked as the leader committed them (onApply).
    outcome.results.forEach(() => {
      this.acknowledged++;
      if (this.clock.now >= this.quietSince) this.ackedSinceQuiet = true;
    });
  }

  private onProposalAnswer(server: SimServer, request: PendingRequest, answer: { isLeader: boolean; leaderId: NodeId | null }): void {
    if (!this.pending.delete(request)) return;
    if (!answer.isLeader) {
      this.believedLeader = answer.leaderId !== null && answer.leaderId !== server.id ? answer.leaderId : this.clientRandom.pick(this.ids);
      return;
    }
    // Cut off or crash a leader right after it appends: entries of its term stay on few servers.
    if (this.faults.elections && this.faultRandom.chance(toppleAfterAppendChance)) this.topple(server, 0, 'right after it appended');
  }

  private scheduleLulls(): void {
    this.clock.setTimeout(() => {
      this.lull = !this.lull && this.clientRandom.chance(0.3);
      if (this.lull) this.note('lull: no client writes');
      this.scheduleLulls();
    }, this.clientRandom.int(200, 1500));
  }

  private scheduleClient(): void {
    this.clock.setTimeout(() => {
      this.clientStep();
      this.scheduleClient();
    }, this.clientRandom.int(5, 40));
  }

  private clientStep(): void {
    for (const request of this.pending) {
      if (this.clock.now - request.sentAt > clientTimeoutMs) {
        this.pending.delete(request);
        if (this.believedLeader === request.to) this.believedLeader = null;
      }
    }
    if (this.pending.size >= clientOutstandingMax || (this.lull && this.faultsOn)) return;
    const to = this.believedLeader ?? this.clientRandom.pick(this.ids);
    const target = this.serverOf(to);
    const count = this.clientRandom.int(1, 3);
    const commands = Array.from({ length: count }, () => new TextEncoder().encode(`c${this.commandNext++}`));
    const request: PendingRequest = { to, sentAt: this.clock.now, commands };
    this.pending.add(request);
    const host = target.host;
    if (host === null) {
      this.believedLeader = null;
      return;
    }
    host.propose(commands, {
      onAppended: (answer) => this.guarded(() => this.onProposalAnswer(target, request, answer)),
      onDecided: (outcome) => this.guarded(() => this.onDecided(request, outcome)),
    });
  }

  private scheduleNemesis(): void {
    this.clock.setTimeout(() => {
      if (!this.faultsOn) return;
      if (this.storm) this.nemesisStep();
      this.scheduleNemesis();
    }, this.faultRandom.int(20, 300));
  }

  /** Alternates storms (every fault on) and calms (links healed, network clean) of 0.2–1.5 s. */
  private scheduleWeather(): void {
    this.clock.setTimeout(() => {
      if (!this.faultsOn) return;
      this.storm = !this.storm;
      if (!this.storm) {
        this.net.heal();
        this.net.configure({ dropRate: 0, duplicateRate: 0, longDelayRate: 0 });
      }
      this.note(this.storm ? 'storm: faults on' : 'calm: links healed, network clean');
      this.scheduleWeather();
    }, this.faultRandom.int(200, 1500));
  }

  private nemesisStep(): void {
    const r = this.faultRandom;
    const choice = r.int(0, 9);
    if (this.faults.network && choice <= 1) {
      this.net.configure({
        dropRate: r.pick([0, 0, 0.02, 0.1, 0.3]),
        duplicateRate: r.pick([0, 0.02, 0.1]),
        delayMsMin: 1,
        delayMsMax: r.pick([1, 5, 30, 100]),
        longDelayRate: r.pick([0, 0.01, 0.05]),
      });
      this.note(() => `network: ${JSON.stringify(this.net.settings)}`);
    } else if (this.faults.partitions && choice <= 5) {
      const kind = r.int(0, 4);
      if (kind === 0) {
        const shuffled = shuffle(this.ids, r);
        const cut = r.int(1, this.ids.length - 1);
        this.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      } else if (kind === 1) {
        this.net.disconnect(r.pick(this.ids));
      } else if (kind === 2) {
        const from = r.pick(this.ids);
        const to = r.pick(this.ids.filter((id) => id !== from));
        if (to !== undefined) {
          this.net.cut(from, to);
          // Often both ways: two servers that cannot talk while both still reach the rest (a lease's hard case, §6.4.1).
          if (r.chance(0.5)) this.net.cut(to, from);
        }
      } else {
        this.net.heal();
      }
      this.note(`links: ${this.net.describe()}`);
    } else if (this.faults.crashes) {
      const server = r.pick(this.members());
      if (server.host !== null) {
        this.crash(server, 'at random');
        this.clock.setTimeout(() => this.restart(server), r.int(10, 2000));
      } else {
        this.restart(server);
      }
    }
  }

  private stopFaults(): void {
    this.faultsOn = false;
    this.quietSince = this.clock.now;
    this.net.heal();
    this.net.configure({ dropRate: 0, duplicateRate: 0, delayMsMin: 1, delayMsMax: 3, longDelayRate: 0 });
    this.syncLatencyMsMax = 1;
    for (const server of this.members()) this.restart(server);
    this.leaderSinceQuiet = this.servers.some((s) => s.role === 'leader');
    this.note('faults stop: links healed, every server up; liveness is checked from here');
  }

  private checkLeaderElected(): void {
    const leaderNow = this.servers.some((s) => s.role === 'leader');
    if (!this.leaderSinceQuiet && !leaderNow) {
      throw new InvariantViolation('Liveness', `no leader within ${10 * this.config.electionTimeoutMsMax} ms after faults stopped`);
    }
  }

  private checkCommandCommitted(): void {
    if (!this.ackedSinceQuiet) {
      throw new InvariantViolation('Liveness', `no command committed within ${20 * this.config.electionTimeoutMsMax} ms after faults stopped`);
    }
  }

  /** The servers started and not removed. */
  private members(): SimServer[] {
    return this.servers.filter((server) => server.state === 'member');
  }

  private scheduleMembership(): void {
    this.clock.setTimeout(() => {
      if (!this.faultsOn) return;
      const leaders = this.servers.filter((s) => s.role === 'leader' && s.host !== null);
      // Any server that thinks it leads, a deposed one included: it must refuse or fail safely.
      if (leaders.length > 0) this.guarded(() => this.membershipStep(this.membershipRandom.pick(leaders)));
      this.scheduleMembership();
    }, this.membershipRandom.int(50, 600));
  }

  /**
   * Asks `leader` for one membership change drawn from its configuration: add a spare as a learner
   * (started first, empty), promote a learner, or remove a voter (the leader itself now and then)
   * or a learner, keeping at least two voters.
   */
  private membershipStep(leader: SimServer): void {
    const host = leader.host;
    if (host === null) return;
    const { voters, learners } = host.actor.getSnapshot().context;
    const r = this.membershipRandom;
    const spares = this.servers.filter((s) => s.state === 'spare');
    const removable = [...(voters.length > 2 ? voters : []), ...learners];
    const options: ConfigChange[] = [];
    if (spares.length > 0) options.push({ type: 'addLearner', id: spares[0].id });
    if (learners.length > 0) options.push({ type: 'promote', id: r.pick(learners) });
    if (removable.length > 0) options.push({ type: 'remove', id: r.chance(0.3) && removable.includes(leader.id) ? leader.id : r.pick(removable) });
    if (options.length === 0) return;
    const change = r.pick(options);
    if (change.type === 'addLearner') {
      const spare = this.serverOf(change.id);
      spare.state = 'member';
      this.note(`${spare.id} starts empty, to be added`);
      this.start(spare);
    }
    this.note(`${leader.id} is asked to ${change.type} ${change.id}`);
    host.changeConfig(change, (outcome) => this.guarded(() => this.note(`${leader.id}: ${change.type} ${change.id} → ${outcome.outcome}${outcome.index > 0 ? ` at ${outcome.index}` : ''}`)));
  }

  /** A config entry committed (its first apply anywhere): servers it leaves out that were in stop for good, a little later (never inside the chart's step). */
  private onConfigCommitted(entry: Entry): void {
    const configuration = decodeConfiguration(entry.command);
    if (configuration === null) throw new InvariantViolation('State Machine Safety', `config entry ${entry.index} holds no configuration`);
    this.committedConfigIndex = entry.index;
    this.configChanges++;
    const members = new Set([...configuration.voters, ...configuration.learners]);
    this.note(`configuration committed at ${entry.index}: voters ${configuration.voters.join(' ')}${configuration.learners.length > 0 ? `, learners ${configuration.learners.join(' ')}` : ''}`);
    for (const id of this.committedMembers) {
      if (members.has(id)) continue;
      const server = this.serverOf(id);
      server.state = 'removed';
      this.clock.setTimeout(() => this.crash(server, 'removed from the cluster'), this.membershipRandom.int(0, 5));
    }
    this.committedMembers = members;
  }

  private serverOf(id: NodeId): SimServer {
    return this.servers[Number(id.slice(1)) - 1];
  }

  /** Records an event for the trace; a function is formatted only if someone reads it. */
  private note(line: string | (() => string)): void {
    const at = this.clock.now;
    const format = () => `${String(at).padStart(6)} ms  ${typeof line === 'string' ? line : line()}`;
    this.options.trace?.(format());
    this.recent[this.recentNext % recentEventsMax] = format;
    this.recentNext++;
  }

  private recentLines(): string[] {
    const lines: string[] = [];
    for (let i = Math.max(0, this.recentNext - recentEventsMax); i < this.recentNext; i++) lines.push(this.recent[i % recentEventsMax]());
    return lines;
  }

  private violationFrom(error: unknown): SimViolation {
    const invariant: InvariantName = error instanceof InvariantViolation ? error.invariant : 'Assertion';
    const detail = error instanceof InvariantViolation ? error.detail : error instanceof Error ? (error.stack ?? error.message) : String(error);
    return {
      invariant,
      detail,
      step: this.steps,
      timeMs: this.clock.now,
      recent: this.recentLines(),
      replay: replayCommand(this.options, this.nodes, this.faults, this.durationMs),
    };
  }
}

/**
 * Flow-control settings drawn per seed, so sweeps cover small AppendEntries (old entries sent apart
 * from a new leader's no-op: Figure 8's ground) and narrow windows as well as the defaults;
 * CheckQuorum on in most seeds (the default) and off in the rest, where a cut-off leader lingers;
 * and snapshots (§7) every few entries in most seeds, keeping few entries behind them, in chunks
 * of a few bytes (a digest snapshot is 12), so lagging followers get InstallSnapshot often.
 */
function drawConfig(random: Random): Partial<RaftConfig> {
  return {
    appendEntriesMax: random.pick([1, 2, 3, 8, 64, 4096]),
    inflightMax: random.pick([1, 2, 4, 32]),
    ...leadershipOptions(random),
    snapshotEvery: random.pick([0, 2, 5, 10, 30, 10_000]),
    snapshotKeepEntries: random.pick([0, 0, 1, 3, 20]),
    snapshotChunkBytesMax: random.pick([1, 5, 1 << 20]),
  };
}

/** CheckQuorum on in most seeds; PreVote on in most; lease reads in some of those with CheckQuorum (a lease needs it). */
function leadershipOptions(random: Random): Partial<RaftConfig> {
  const checkQuorum = random.chance(0.75);
  const preVote = random.chance(0.75);
  const readMode = checkQuorum && random.chance(0.4) ? 'lease' : 'readIndex';
  return { checkQuorum, preVote, readMode };
}

/** The CLI command that replays a run. */
export function replayCommand(options: SimOptions, nodes: number, faults: SimFaults, durationMs: number): string {
  const on = (Object.keys(faults) as (keyof SimFaults)[]).filter((k) => faults[k]);
  return `npx raftchart sim --seed ${options.seed} --nodes ${nodes} --duration ${durationMs} --faults ${on.length === 0 ? 'none' : on.join(',')} --trace`;
}

/** Votes are rare and decisive, so a crash right after granting one is made likely. */
function crashAfterChance(message: RaftMessage): number {
  return message.type === 'rpc.requestVote.reply' ? 0.3 : 0.02;
}

function isAcknowledgement(message: RaftMessage): boolean {
  return (message.type === 'rpc.requestVote.reply' && message.voteGranted) || (message.type === 'rpc.appendEntries.reply' && message.success);
}

function describeMessage(m: RaftMessage): string {
  const head = `${m.from}→${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'rpc.requestVote':
      return `${head} last=${m.lastLogIndex}/t${m.lastLogTerm}`;
    case 'rpc.requestVote.reply':
      return `${head} ${m.voteGranted ? 'granted' : 'denied'}`;
    case 'rpc.appendEntries':
      return `${head} prev=${m.prevLogIndex}/t${m.prevLogTerm} entries=${m.entries.length} commit=${m.leaderCommit} round=${m.round}`;
    case 'rpc.appendEntries.reply':
      return `${head} ${m.success ? `ok match=${m.matchIndex}` : `refused at ${m.prevLogIndex} hint=t${m.conflictTerm}@${m.conflictIndex}`}`;
    case 'rpc.installSnapshot':
      return `${head} snapshot=${m.lastIncludedIndex}/t${m.lastIncludedTerm} bytes ${m.offset}+${m.data.byteLength}/${m.totalBytes}${m.done ? ' done' : ''}`;
    case 'rpc.installSnapshot.reply':
      return `${head} snapshot=${m.lastIncludedIndex} ${m.installed ? `installed match=${m.matchIndex}` : `holds ${m.offset} bytes`}`;
    case 'rpc.preVote':
      return `${head} last=${m.lastLogIndex}/t${m.lastLogTerm}`;
    case 'rpc.preVote.reply':
      return `${head} ${m.voteGranted ? 'granted' : 'denied'}`;
    case 'rpc.timeoutNow':
      return head;
  }
}

function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
