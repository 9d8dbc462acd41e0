import { createActor, type Actor, type ActorOptions, type AnyActorLogic } from 'xstate';
import { durableLogMachine } from '../../machines/durable-log.machine.ts';
import { raftServerMachine, roleOf, type ConfigChangeAnswer, type ProposalAnswer, type RaftServerInput, type TransferAnswer } from '../../machines/raft-server.machine.ts';
import type { ConfigChange } from '../core/configuration.ts';
import { assert } from '../core/assert.ts';
import type { StorageActors } from '../io/storage-actors.ts';
import type { RaftMessage } from '../protocol/messages.ts';
import type { Entry, NodeId, RecoveredState } from '../protocol/types.ts';
import { asBatch, isRaftMessageFor } from '../protocol/validate.ts';
import { resolveRaftConfig } from '../core/config.ts';
import { SessionStateMachine } from './sessions.ts';
import type { WorkerStatus } from './worker-protocol.ts';
import { canSnapshot, queryOne, serveStateMachine, type StateMachine, type StateMachineHooks } from './state-machine-host.ts';

/**
 * The one server host (ARCHITECTURE.md, "one server host, three injected parts"): the raft-server
 * chart with its durable log over injected storage, on an injected clock, speaking through an
 * injected transport, applying to a state machine. The worker thread, the simulator and the paper
 * harness each build their servers with it and differ only in what they inject:
 *
 * | part | worker (LocalCluster) | simulator | paper harness |
 * |---|---|---|---|
 * | storage | the WAL on the real disk | a virtual disk | the virtual disk or the WAL |
 * | clock | real timers | the run's virtual clock | one virtual clock per server |
 * | transport | MessagePorts, batched per turn | the virtual network | a list the test delivers from |
 *
 * It owns what every host needs around the chart: the state machine (src/host/state-machine-host.ts),
 * proposals and who waits for them (an answer when the commands are appended, or their results
 * once they are applied here, or a coded rejection), validation of what the network brings, and
 * counters. It does no I/O of its own.
 */

/** The actor's clock (XState's setTimeout/clearTimeout pair): real timers, or a virtual clock. */
export type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

/** Where the chart's messages go: `send` is called in the chart's step; the transport batches, delays or drops as it must. */
export interface Transport {
  send(message: RaftMessage): void;
}

export interface ServerHostOptions {
  /** The chart's input, less what the host supplies (what storage recovered, and whether the state machine snapshots). */
  readonly input: Omit<RaftServerInput, 'recovered' | 'stateMachineSnapshots'>;
  /** What storage recovered: the server starts from it. */
  readonly recovered: RecoveredState;
  /** The durable-log chart's storage actors (src/io/storage-actors.ts, the virtual disk's, …). */
  readonly storage: StorageActors;
  readonly transport: Transport;
  readonly stateMachine: StateMachine;
  /**
   * True when `stateMachine` already holds its session layer (a SessionStateMachine inside it: the
   * simulator digests every entry above it); default false: the host wraps it in one.
   */
  readonly sessionsIncluded?: boolean;
  /** The actor's clock; default XState's (real timers). */
  readonly clock?: Clock;
  /** The chart to run: the real one, or a mutant made with `raftServerMachine.provide(...)`. */
  readonly machine?: typeof raftServerMachine;
  /** XState's inspection observer for the actor (and its durable-log child); omitted: none, no cost. */
  readonly inspect?: ActorOptions<AnyActorLogic>['inspect'];
  readonly hooks?: ServerHostHooks;
}

export interface ServerHostHooks extends StateMachineHooks {
  /** The chart's snapshot after each step (roles, terms: what a simulator or a view follows). */
  readonly onStep?: (snapshot: ReturnType<ServerActor['getSnapshot']>) => void;
  /** A bug (a failed assert in the chart or a storage): the actor has stopped. */
  readonly onError?: (error: unknown) => void;
}

/** Why a proposed command did not commit here: not the leader, another leader's entry took its index, or its outcome is unknown. */
export interface ProposalFailure {
  readonly code: 'NotLeader' | 'Stopped';
  readonly message: string;
  /** The leader this server knows of, when it knows one. */
  readonly leaderId: NodeId | null;
}

/**
 * What became of one batch of proposed commands (proposeAndWait), told once: commands
 * [0, results.length) committed and were applied here at index, index + 1, …, with those results;
 * when `failure` is not null, the rest did not (or their outcome is unknown).
 */
export interface ProposalOutcome {
  readonly index: number;
  readonly term: number;
  readonly count: number;
  readonly results: readonly unknown[];
  readonly failure: ProposalFailure | null;
}

/** How a caller hears of a proposal: when the chart appended it (Raft's Start()), or once it is decided. */
export interface ProposalListener {
  readonly onAppended?: (answer: ProposalAnswer) => void;
  readonly onDecided?: (outcome: ProposalOutcome) => void;
}

/** Counters of what reached this host. */
export interface HostCounters {
  messagesReceived: number;
  /** Messages (or whole batches) dropped by validation: wrong shape, bad index, absurd size. */
  malformedDropped: number;
  proposalsReceived: number;
  proposeEvents: number;
}

/**
 * What became of one batch of read-only queries (read()), told once: with `failure` null this
 * server still led after the queries arrived (a majority answered a heartbeat round begun after
 * them, or it held a lease) and its state machine had applied `index`, the commit index when they
 * arrived; `results[i]` is queries[i]'s answer from state machine.query(). Otherwise none ran.
 */
export interface ReadOutcome {
  readonly index: number;
  readonly term: number;
  readonly results: readonly unknown[];
  readonly failure: ProposalFailure | null;
}

/** What a leader transfer came to here: the chart's first answer (TransferAnswer.outcome), and the leader it names. */
export interface TransferOutcome {
  readonly outcome: TransferAnswer['outcome'] | 'stopped';
  readonly leaderId: NodeId | null;
}

/**
 * What a membership change came to here (dissertation §4.1): 'committed' once its config entry
 * (at `index`) is applied on this server, else the chart's refusal (ConfigChangeAnswer.outcome),
 * 'lost' (another leader's entry took its index) or 'stopped'.
 */
export interface ConfigChangeOutcome {
  readonly outcome: Exclude<ConfigChangeAnswer['outcome'], 'appended'> | 'committed' | 'lost' | 'stopped';
  readonly index: number;
  readonly leaderId: NodeId | null;
}

/** The most proposal batches waiting for their answers at once; more is a caller that never lets go. */
export const pendingProposalsMax = 65_536;

/** A batch of commands appended at [first, first + count) in `term`, waiting to be applied. */
interface Waiting {
  readonly first: number;
  readonly count: number;
  readonly term: number;
  readonly results: unknown[];
  readonly onDecided: (outcome: ProposalOutcome) => void;
}

export type ServerActor = Actor<typeof raftServerMachine>;

export class ServerHost {
  readonly id: NodeId;
  readonly actor: ServerActor;
  readonly counters: HostCounters = { messagesReceived: 0, malformedDropped: 0, proposalsReceived: 0, proposeEvents: 0 };
  /** Whether the state machine can snapshot itself: without it this server never compacts its log. */
  readonly snapshots: boolean;
  readonly #listeners = new Map<number, ProposalListener>();
  /** Appended batches waiting to be applied, in the order appended. */
  #waiting: Waiting[] = [];
  readonly #snapshotCalls = new Map<number, (answer: { ok: boolean; index: number; term: number; reason: string | null }) => void>();
  readonly #readCalls = new Map<number, { readonly queries: readonly Uint8Array[]; readonly onDone: (outcome: ReadOutcome) => void }>();
  readonly #transferCalls = new Map<number, (outcome: TransferOutcome) => void>();
  readonly #configCalls = new Map<number, (outcome: ConfigChangeOutcome) => void>();
  readonly #stateMachine: StateMachine;
  #requestIdNext = 1;
  #stopped = false;

  constructor(options: ServerHostOptions) {
    this.id = options.input.id;
    // Sessions (§6.3) live in the state-machine layer, around the user's machine.
    const stateMachine =
      options.sessionsIncluded === true ? options.stateMachine : new SessionStateMachine(options.stateMachine, resolveRaftConfig(options.input.config).sessionExpiryEntries);
    this.snapshots = canSnapshot(stateMachine);
    this.#stateMachine = stateMachine;
    const durableLog = durableLogMachine.provide({ actors: options.storage });
    const machine = (options.machine ?? raftServerMachine).provide({ actors: { durableLog } });
    this.actor = createActor(machine, {
      input: { ...options.input, recovered: options.recovered, stateMachineSnapshots: this.snapshots },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    });
    const hooks = options.hooks ?? {};
    this.actor.on('net.send', ({ message }) => options.transport.send(message));
    serveStateMachine(this.actor, stateMachine, {
      onApplied: (entries, results) => {
        hooks.onApplied?.(entries, results);
        if (this.#waiting.length > 0) this.#decide(entries, results);
      },
      onRestored: (snapshot) => {
        this.#failThrough(snapshot.index, `${this.id} restored a snapshot past the command's index before applying it there: leadership changed, and the outcome is unknown`);
        hooks.onRestored?.(snapshot);
      },
      ...(hooks.onSnapshotTaken === undefined ? {} : { onSnapshotTaken: hooks.onSnapshotTaken }),
    });
    this.actor.on('client.proposed', (answer) => this.#onProposed(answer));
    this.actor.on('client.snapshotted', (answer) => {
      const call = this.#snapshotCalls.get(answer.requestId);
      this.#snapshotCalls.delete(answer.requestId);
      call?.(answer);
    });
    this.actor.on('client.readReady', (answer) => {
      const call = this.#readCalls.get(answer.requestId);
      if (call === undefined) return;
      this.#readCalls.delete(answer.requestId);
      if (!answer.ok) {
        const where = answer.leaderId === null ? 'no leader is known yet' : `the leader is ${answer.leaderId}`;
        call.onDone({ index: 0, term: answer.term, results: [], failure: { code: 'NotLeader', message: `${this.id} is not the leader (${where})`, leaderId: answer.leaderId } });
        return;
      }
      // The chart answers once lastApplied ≥ index: the state machine holds at least that much now.
      const results = call.queries.map((query) => queryOne(this.#stateMachine, query));
      call.onDone({ index: answer.index, term: answer.term, results, failure: null });
    });
    this.actor.on('client.transferred', (answer) => {
      const call = this.#transferCalls.get(answer.requestId);
      this.#transferCalls.delete(answer.requestId);
      call?.({ outcome: answer.outcome, leaderId: answer.leaderId });
    });
    this.actor.on('client.configChanged', (answer) => this.#onConfigChanged(answer));
    // The one subscription, with an error listener: XState reports an error as unhandled when any observer lacks one.
    const onStep = hooks.onStep;
    this.actor.subscribe({ ...(onStep === undefined ? {} : { next: onStep }), error: (error) => hooks.onError?.(error) });
  }

  /** Starts the chart: timers run, messages and proposals are handled. A restarted server restores its snapshot first. */
  start(): void {
    this.actor.start();
  }

  /** Stops the chart; every proposal and snapshot still waiting is answered Stopped. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.actor.stop();
    const failure: ProposalFailure = { code: 'Stopped', message: `${this.id} stopped before the command was applied`, leaderId: null };
    for (const waiting of this.#waiting) waiting.onDecided(outcomeOf(waiting, failure));
    this.#waiting = [];
    for (const [requestId, listener] of this.#listeners) {
      this.#listeners.delete(requestId);
      listener.onDecided?.({ index: 0, term: 0, count: 0, results: [], failure });
    }
    for (const call of this.#snapshotCalls.values()) call({ ok: false, index: 0, term: 0, reason: 'stopped' });
    this.#snapshotCalls.clear();
    for (const call of this.#readCalls.values()) call.onDone({ index: 0, term: 0, results: [], failure: { code: 'Stopped', message: `${this.id} stopped before the read was confirmed`, leaderId: null } });
    this.#readCalls.clear();
    for (const call of this.#transferCalls.values()) call({ outcome: 'stopped', leaderId: null });
    this.#transferCalls.clear();
    for (const call of this.#configCalls.values()) call({ outcome: 'stopped', index: 0, leaderId: null });
    this.#configCalls.clear();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Messages that crossed a thread or a network, untrusted: a batch (an array) of them, each
   * validated (src/protocol/validate.ts) before the chart sees it; a malformed one, or a batch that
   * is not an array, is dropped and counted, never thrown.
   */
  receive(batch: unknown, decode: (wire: unknown) => unknown = (wire) => wire): void {
    const messages = asBatch(batch);
    if (messages === null) {
      this.counters.malformedDropped++;
      return;
    }
    for (const wire of messages) {
      this.counters.messagesReceived++;
      const message = decode(wire);
      if (!isRaftMessageFor(message, this.id)) {
        this.counters.malformedDropped++;
        continue;
      }
      if (!this.#stopped) this.actor.send(message);
    }
  }

  /** A message from an in-process transport that made it itself (the simulator, the paper harness): no validation. */
  deliver(message: RaftMessage): void {
    if (!this.#stopped) this.actor.send(message);
  }

  /**
   * Proposes `commands` as one batch (one append, one AppendEntries per follower). `listener`
   * hears the chart's answer as it appends and/or, once every command is decided here, the results
   * of those that committed (ProposalOutcome). Returns the request id the chart saw.
   */
  propose(commands: readonly Uint8Array[], listener: ProposalListener): number {
    const requestId = this.#requestIdNext++;
    this.counters.proposalsReceived += commands.length;
    this.counters.proposeEvents++;
    if (this.#stopped) {
      listener.onDecided?.({ index: 0, term: 0, count: commands.length, results: [], failure: { code: 'Stopped', message: `${this.id} is stopped`, leaderId: null } });
      return requestId;
    }
    if (this.#listeners.size + this.#waiting.length >= pendingProposalsMax) assert(false, `more than ${pendingProposalsMax} proposal batches waiting on ${this.id}`);
    this.#listeners.set(requestId, listener);
    this.actor.send({ type: 'client.propose', requestId, commands });
    return requestId;
  }

  /** Takes a snapshot at the applied index now (or joins the one under way); resolves once it is durable. */
  snapshot(): Promise<{ ok: boolean; index: number; term: number; reason: string | null }> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve({ ok: false, index: 0, term: 0, reason: 'stopped' });
      const requestId = this.#requestIdNext++;
      this.#snapshotCalls.set(requestId, resolve);
      this.actor.send({ type: 'client.snapshot', requestId });
    });
  }

  /**
   * Reads: runs `queries` on the state machine once the chart confirms this server still leads
   * (ReadIndex, or a lease; dissertation §6.4), with no log entry. One chart read for the batch;
   * `onDone` is told once. Reads on a follower fail NotLeader, naming the leader it knows.
   */
  read(queries: readonly Uint8Array[], onDone: (outcome: ReadOutcome) => void): void {
    if (this.#stopped) {
      onDone({ index: 0, term: 0, results: [], failure: { code: 'Stopped', message: `${this.id} is stopped`, leaderId: null } });
      return;
    }
    if (this.#readCalls.size >= pendingProposalsMax) assert(false, `more than ${pendingProposalsMax} read batches waiting on ${this.id}`);
    const requestId = this.#requestIdNext++;
    this.#readCalls.set(requestId, { queries, onDone });
    this.actor.send({ type: 'client.read', requestId });
  }

  /**
   * Asks this server, as leader, to hand leadership to `to` (dissertation §3.10); resolves with the
   * chart's first answer: 'handedOver' once `to` was sent TimeoutNow (whether it wins is seen in
   * its role), else why not ('notLeader', 'unknownServer', 'alreadyLeader', 'busy', 'timedOut').
   */
  transfer(to: NodeId): Promise<TransferOutcome> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve({ outcome: 'stopped', leaderId: null });
      const requestId = this.#requestIdNext++;
      this.#transferCalls.set(requestId, resolve);
      this.actor.send({ type: 'client.transfer', requestId, to });
    });
  }

  /**
   * Asks this server, as leader, to change the configuration by one server (dissertation §4.1):
   * add a learner, promote a learner that has caught up, or remove a server. Resolves once the
   * config entry is committed and applied here, or with the chart's reason for refusing it;
   * `onDone` is told once (a callback, so the simulator's synchronous run hears it in its step).
   */
  changeConfig(change: ConfigChange, onDone: (outcome: ConfigChangeOutcome) => void): void {
    if (this.#stopped) return onDone({ outcome: 'stopped', index: 0, leaderId: null });
    const requestId = this.#requestIdNext++;
    this.#configCalls.set(requestId, onDone);
    this.actor.send({ type: 'client.changeConfig', requestId, change });
  }

  #onConfigChanged(answer: ConfigChangeAnswer): void {
    const call = this.#configCalls.get(answer.requestId);
    if (call === undefined) return;
    this.#configCalls.delete(answer.requestId);
    if (answer.outcome !== 'appended') {
      call({ outcome: answer.outcome, index: 0, leaderId: answer.leaderId });
      return;
    }
    // Committed once applied here in the same term, like a command (#decide).
    const onDecided = (outcome: ProposalOutcome) =>
      call(outcome.failure === null ? { outcome: 'committed', index: answer.index, leaderId: this.id } : { outcome: outcome.failure.code === 'Stopped' ? 'stopped' : 'lost', index: answer.index, leaderId: null });
    this.#waiting.push({ first: answer.index, count: 1, term: answer.term, results: [], onDecided });
  }

  #onProposed(answer: ProposalAnswer): void {
    const listener = this.#listeners.get(answer.requestId);
    if (listener === undefined) return;
    this.#listeners.delete(answer.requestId);
    listener.onAppended?.(answer);
    const onDecided = listener.onDecided;
    if (onDecided === undefined) return;
    if (!answer.isLeader) {
      const where = answer.leaderId === null ? 'no leader is known yet' : `the leader is ${answer.leaderId}`;
      onDecided({ index: 0, term: answer.term, count: answer.count, results: [], failure: { code: 'NotLeader', message: `${this.id} is not the leader (${where})`, leaderId: answer.leaderId } });
      return;
    }
    if (answer.count === 0) {
      onDecided({ index: answer.index, term: answer.term, count: 0, results: [], failure: null });
      return;
    }
    this.#waiting.push({ first: answer.index, count: answer.count, term: answer.term, results: [], onDecided });
  }

  /** Entries applied here: each waiting batch they reach takes their results, or fails where another leader's entry took its index. */
  #decide(entries: readonly Entry[], results: readonly unknown[]): void {
    const first = entries[0].index;
    const last = first + entries.length - 1;
    let kept = 0;
    for (const waiting of this.#waiting) {
      let decided = false;
      const from = waiting.first + waiting.results.length;
      for (let index = Math.max(from, first); index <= Math.min(waiting.first + waiting.count - 1, last); index++) {
        const i = index - first;
        if (entries[i].term !== waiting.term) {
          waiting.onDecided(outcomeOf(waiting, { code: 'NotLeader', message: `index ${index} holds another leader's entry: leadership changed`, leaderId: null }));
          decided = true;
          break;
        }
        waiting.results.push(results[i]);
      }
      if (!decided && waiting.results.length === waiting.count) {
        waiting.onDecided(outcomeOf(waiting, null));
        decided = true;
      }
      if (!decided) this.#waiting[kept++] = waiting;
    }
    this.#waiting.length = kept;
  }

  /** The state machine jumped to `index` (a snapshot): every batch with a command at or below it not yet applied can no longer be answered. */
  #failThrough(index: number, message: string): void {
    let kept = 0;
    for (const waiting of this.#waiting) {
      if (waiting.first + waiting.results.length <= index) waiting.onDecided(outcomeOf(waiting, { code: 'NotLeader', message, leaderId: null }));
      else this.#waiting[kept++] = waiting;
    }
    this.#waiting.length = kept;
  }
}

function outcomeOf(waiting: Waiting, failure: ProposalFailure | null): ProposalOutcome {
  return { index: waiting.first, term: waiting.term, count: waiting.count, results: waiting.results, failure };
}

/** What a server reports of itself (WorkerStatus less the inspector's detail), read from its chart now. */
export function statusOf(server: ServerHost): WorkerStatus {
  const snapshot = server.actor.getSnapshot();
  const context = snapshot.context;
  const top = roleOf(snapshot);
  return {
    role: top === 'failed' ? 'follower' : top,
    failed: top === 'failed',
    term: context.currentTerm,
    votedFor: context.votedFor,
    leaderId: context.leaderId,
    commitIndex: context.commitIndex,
    lastApplied: context.lastApplied,
    lastLogIndex: context.log.lastIndex,
    lastLogTerm: context.log.lastTerm,
    snapshotIndex: context.snapshot?.index ?? 0,
    firstLogIndex: context.log.firstIndex,
    snapshots: !server.snapshots ? 'unsupported' : context.config.snapshotEvery === 0 ? 'manual' : 'on',
    voters: context.voters,
    learners: context.learners,
  };
}
