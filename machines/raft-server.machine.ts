import { and, assertEvent, assign, emit, enqueueActions, not, raise, setup } from 'xstate';
import { durableLogMachine, type DurableLogEvent, type DurableLogOptions } from './durable-log.machine.ts';
import { assert } from '../src/core/assert.ts';
import { crc32c } from '../src/core/crc32c.ts';
import { Outbox } from '../src/core/outbox.ts';
import { leaseTicks, quorumCheckTicks, resolveRaftConfig, type RaftConfig } from '../src/core/config.ts';
import {
  initialProgress,
  needsSnapshot,
  onAppendRejected,
  onAppendSuccess,
  onSnapshotReply,
  planAppend,
  planSnapshotChunk,
  startSnapshot,
  type Progress,
} from '../src/core/progress.ts';
import { quorumMatchIndex } from '../src/core/quorum.ts';
import {
  applyChange,
  changeProblem,
  configurationAt,
  currentOf,
  encodeConfiguration,
  peersOf,
  withAppended,
  withCompacted,
  withTruncated,
  type ConfigChange,
  type Configuration,
  type IndexedConfiguration,
} from '../src/core/configuration.ts';
import { RaftLog } from '../src/core/raft-log.ts';
import { deriveRandomState, nextIntInclusive, type RandomState } from '../src/core/random.ts';
import { prevLogAgrees, reconcileWithLeader, rejectionHint } from '../src/core/replication.ts';
import { isLogUpToDate, quorumSize } from '../src/core/vote.ts';
import type {
  AppendEntries,
  AppendEntriesReply,
  InstallSnapshot,
  InstallSnapshotReply,
  PreVote,
  PreVoteReply,
  RaftMessage,
  RequestVote,
  RequestVoteReply,
} from '../src/protocol/messages.ts';
import type { DurablePosition } from '../src/protocol/records.ts';
import { snapshotBytesMax } from '../src/protocol/validate.ts';
import type { StorageFailure } from '../src/protocol/storage.ts';
import type { Entry, NodeId, RecoveredState, Role, Snapshot } from '../src/protocol/types.ts';

/**
 * One Raft server (Figure 2, §5.1–5.6) as a pure statechart: events in, effects out.
 *
 * In: the nine RPC messages (their `type` is the event type: Figure 2's six, PreVote and its
 * reply, TimeoutNow), `client.propose`, `client.read`, `client.transfer`, `client.snapshot`, the
 * durable log's `log.synced` / `log.failed`, and the state machine host's answer to a snapshot
 * request (`state.snapshotted` / `state.snapshotFailed`). Out: emitted `net.send` (a message for
 * the bus), `state.apply` (committed entries, in order, once per incarnation), `state.snapshot`
 * (snapshot your state machine now: it has applied exactly 1..index), `state.restore` (replace
 * your state machine with this snapshot), `client.proposed`, `client.readReady` (run the read
 * now: leadership is confirmed and its index applied), `client.transferred` and
 * `client.snapshotted` (answers); requests to the invoked `durableLog` actor.
 *
 * Beyond Figure 2 (the dissertation): PreVote (§9.6) puts `preCandidate` between follower and
 * candidate; with CheckQuorum a server that heard a leader within a minimum election timeout
 * ignores RequestVote (§4.2.3); ReadIndex reads (§6.4) are confirmed by a heartbeat round a
 * majority answered (`round` on AppendEntries and its reply), or by a lease; a leader hands over
 * with TimeoutNow (§3.10). No I/O, no wall clock, no Math.random: time is XState
 * delays on the actor's clock, randomness a seeded state in the context.
 *
 * Snapshots (paper §7, Figure 13): after snapshotEvery applied entries the chart asks the host
 * for its state machine's snapshot, hands it to the durable log, and once that is durable drops
 * the log up to snapshotKeepEntries behind it. A leader sends its snapshot to a follower whose
 * next entry it no longer holds; a follower gathers the chunks, checks them, keeps the log after
 * a matching entry or else discards it, and answers only once the snapshot is durable (rule 1).
 *
 * Ordering rule (ARCHITECTURE.md rule 1): every reply waits in the outbox until the durable log
 * reports synced every request made before it; a leader's AppendEntries go out at once, and the
 * leader counts itself toward a commit quorum only up to what its durable log has synced.
 */

export interface RaftServerInput {
  readonly id: NodeId;
  /**
   * The cluster's initial voters: the configuration at index 0, before any config entry. A server's
   * log and snapshot say what it is now (§4.1); a server joining later starts with the same list
   * and, not being in it, never stands until a config entry makes it a voter.
   */
  readonly servers: readonly NodeId[];
  readonly config?: Partial<RaftConfig>;
  /** Seeds this server's random election timeouts; one seed replays a run exactly. */
  readonly randomSeed: number;
  /** What the durable log recovered; omit for a fresh server. */
  readonly recovered?: RecoveredState;
  /** Retry settings for the invoked durable log (its defaults when omitted). */
  readonly durableLog?: DurableLogOptions;
  /**
   * Whether the host's state machine can snapshot and restore itself (it answers `state.snapshot`
   * and carries out `state.restore`). Without it the chart never asks for a snapshot, so the log
   * is never compacted, and an InstallSnapshot is refused. Default false.
   */
  readonly stateMachineSnapshots?: boolean;
}

export type ClientProposeEvent = { type: 'client.propose'; requestId: number; commands: readonly Uint8Array[] };

/** The host's answer to `state.snapshot`: its state machine's bytes after applying 1..index. */
export type StateSnapshottedEvent = { type: 'state.snapshotted'; index: number; term: number; data: Uint8Array };

export type RaftServerEvent =
  | RaftMessage
  | ClientProposeEvent
  | { type: 'client.read'; requestId: number }
  | { type: 'client.transfer'; requestId: number; to: NodeId }
  | { type: 'client.snapshot'; requestId: number }
  | { type: 'client.changeConfig'; requestId: number; change: ConfigChange }
  | StateSnapshottedEvent
  | { type: 'state.snapshotFailed'; index: number; reason: string }
  | { type: 'log.synced'; position: DurablePosition }
  | { type: 'log.failed'; failure: StorageFailure };

/** The answer to one `client.propose`: on a leader the commands hold indexes [index, index + count). */
export interface ProposalAnswer {
  type: 'client.proposed';
  requestId: number;
  isLeader: boolean;
  leaderId: NodeId | null;
  term: number;
  index: number;
  count: number;
}

/** The answer to one `client.snapshot`: the snapshot made durable, or why none could be. */
export interface SnapshotAnswer {
  type: 'client.snapshotted';
  requestId: number;
  ok: boolean;
  index: number;
  term: number;
  /** When not ok: 'unsupported' (the state machine cannot snapshot), 'failed' (the host or the disk failed). */
  reason: 'unsupported' | 'failed' | null;
}

/**
 * The answer to one `client.read` (dissertation §6.4). ok: this server was still the leader after
 * the read arrived (a heartbeat round a majority answered, or a valid lease), and its state machine
 * has applied through `index`, every entry committed before the read: query it now. Not ok: it is
 * not the leader (or stopped leading before it could confirm); `leaderId` is the leader it knows.
 */
export interface ReadAnswer {
  type: 'client.readReady';
  requestId: number;
  ok: boolean;
  index: number;
  term: number;
  leaderId: NodeId | null;
}

/**
 * The answer to one `client.transfer` that did not hand leadership over (§3.10): the target is no
 * server of the cluster, this server is not the leader, a transfer is already under way, or the
 * target did not take over within an election timeout (the leader resumes). A transfer that works
 * is seen as the target leading; `handedOver` says the TimeoutNow went out.
 */
export interface TransferAnswer {
  type: 'client.transferred';
  requestId: number;
  outcome: 'handedOver' | 'alreadyLeader' | 'unknownServer' | 'notLeader' | 'busy' | 'timedOut';
  leaderId: NodeId | null;
}

/**
 * The answer to one `client.changeConfig` (dissertation §4.1): 'appended' when the leader put the
 * config entry at `index` (it is in force at once, and done once committed), else why not:
 * 'notLeader' (also while handing leadership over: `leaderId` names the server about to lead),
 * 'inProgress' (the change in force is uncommitted), 'notReady' (this term's no-op is), 'exists' (adding a server already in), 'unknownServer', 'notLearner' (promoting a voter),
 * 'lastVoter' (removing the only voter), 'notCaughtUp' (promoting a learner that lags, §4.2.1).
 */
export interface ConfigChangeAnswer {
  type: 'client.configChanged';
  requestId: number;
  outcome: 'appended' | 'notLeader' | 'inProgress' | 'notReady' | 'exists' | 'unknownServer' | 'notLearner' | 'lastVoter' | 'notCaughtUp';
  index: number;
  term: number;
  leaderId: NodeId | null;
}

export type RaftServerEmitted =
  | { type: 'net.send'; message: RaftMessage }
  | { type: 'state.apply'; entries: readonly Entry[] }
  | { type: 'state.snapshot'; index: number; term: number }
  | { type: 'state.restore'; snapshot: Snapshot }
  | ProposalAnswer
  | ReadAnswer
  | TransferAnswer
  | ConfigChangeAnswer
  | SnapshotAnswer;

/** A read waiting on the leader: for a heartbeat round a majority answers (0: none needed, a lease) and for the state machine to reach `index`. */
export interface PendingRead {
  readonly requestId: number;
  readonly index: number;
  readonly round: number;
}

/** A leader transfer under way (§3.10): proposals wait while `to` catches up; TimeoutNow goes once it has. */
export interface LeaderTransfer {
  readonly to: NodeId;
  readonly requestId: number;
  timeoutNowSent: boolean;
}

export interface RaftServerContext {
  readonly id: NodeId;
  /**
   * The configurations of the log (§4.1): the one in force at the log's base (the initial one, or
   * the snapshot's), then one per config entry still in the log, in index order. The newest is in
   * force, committed or not; `voters`, `learners`, `configIndex` and `peers` are read from it.
   */
  configs: readonly IndexedConfiguration[];
  voters: readonly NodeId[];
  learners: readonly NodeId[];
  /** The index of the config entry in force (0: none in the log, the base's). */
  configIndex: number;
  /** Every voter and learner but this server: whom a leader replicates to. */
  peers: readonly NodeId[];
  /** Leader only: the last index at the latest heartbeat and at the one before (a learner within a round has caught up, §4.2.1). */
  heartbeatLastIndex: number;
  priorHeartbeatLastIndex: number;
  readonly config: RaftConfig;
  random: RandomState;
  electionTimeoutMs: number;
  /** Figure 2 persistent state, as this server means it to be; `synced` says what is durable. */
  currentTerm: number;
  votedFor: NodeId | null;
  /** Changed in place (O(batch) appends); see RaftLog. */
  readonly log: RaftLog;
  commitIndex: number;
  lastApplied: number;
  leaderId: NodeId | null;
  /** The seq of the last request sent to the durable log. */
  logSeq: number;
  /** What the durable log last reported as synced. */
  synced: DurablePosition;
  /** Changed in place: replies waiting for the durable log (rule 1). */
  readonly outbox: Outbox;
  votesGranted: NodeId[];
  /** Candidate only: peers that answered this term's RequestVote, granted or not. */
  votesAnswered: NodeId[];
  /** Leader only: one entry per peer, changed in place. */
  progress: Record<NodeId, Progress>;
  /** Leader only: heartbeats since its last quorum check (CheckQuorum). */
  heartbeatsSinceQuorumCheck: number;
  /**
   * Whether a leader was heard from (or this server led) within a minimum election timeout. While
   * it was, pre-votes are denied (§9.6) and, with CheckQuorum, RequestVotes not sent for a leader
   * transfer are ignored (§4.2.3): the leader's followers stay with it, which is what makes a lease
   * safe. A restarted server in lease mode starts as if it had heard one: it may have answered a
   * heartbeat a lease counts on before it went down.
   */
  leaderContactRecent: boolean;
  /** Leader only: the heartbeat round under way; AppendEntries carry it, replies echo it (§6.4). */
  round: number;
  /** Leader only: the index of the no-op that began its term; no read is answered before it commits (§6.4). */
  termStartIndex: number;
  /** Leader only: reads waiting for a confirming round or for the state machine, in arrival order. */
  pendingReads: PendingRead[];
  /** Leader only: the leader transfer under way, or null. */
  transfer: LeaderTransfer | null;
  /** This leader sent TimeoutNow in its term: the target may still stand (a late TimeoutNow), so no lease for the rest of the term. */
  handedOverThisTerm: boolean;
  /** A TimeoutNow arrived: the next election is a transfer election (its RequestVotes say so). */
  timeoutNowReceived: boolean;
  /** Candidate only: this election was asked for by the leader (TimeoutNow). */
  campaignTransfer: boolean;
  failure: StorageFailure | null;
  readonly durableLogOptions: DurableLogOptions;
  readonly stateMachineSnapshots: boolean;
  /** The newest durable snapshot (what a leader sends), and the CRC-32C of its data; null: none. */
  snapshot: Snapshot | null;
  snapshotChecksum: number;
  /** The snapshot handed to the durable log and not yet reported durable, with its request's seq. */
  pendingSnapshot: { readonly seq: number; readonly snapshot: Snapshot } | null;
  /** The index of the state machine snapshot asked of the host and not yet answered; 0: none. */
  snapshotAsked: number;
  /** The applied index at which the host last failed to snapshot: the next try waits another snapshotEvery. */
  snapshotRefusedAt: number;
  /** client.snapshot requests waiting for the snapshot under way. */
  snapshotWaiters: number[];
  /** Follower only: the InstallSnapshot being received, chunk by chunk (§7). */
  incomingSnapshot: IncomingSnapshot | null;
}

/** What a follower has gathered of one leader's snapshot: its chunks in order. */
export interface IncomingSnapshot {
  readonly leaderId: NodeId;
  readonly term: number;
  readonly index: number;
  readonly lastTerm: number;
  readonly totalBytes: number;
  readonly checksum: number;
  /** Changed in place: the chunks received, in order; `received` bytes in all. */
  readonly chunks: Uint8Array[];
  received: number;
}



/** `event`, asserted to be of one of `types` (XState's assertEvent): what a named action or guard handles. */
function asEvent<T extends RaftServerEvent['type']>(event: RaftServerEvent, ...types: T[]): Extract<RaftServerEvent, { type: T }> {
  assertEvent(event, types);
  return event as unknown as Extract<RaftServerEvent, { type: T }>;
}

function termOf(event: RaftServerEvent): number {
  return 'term' in event ? event.term : -1;
}

/**
 * How a server answers the request it handles, the one parameter of the chart's `reply` action:
 * a vote granted or denied, an AppendEntries taken or refused, an InstallSnapshot's progress, its
 * installation, or a snapshot the log already holds committed.
 */
export type ReplyAnswer =
  | 'granted'
  | 'denied'
  | 'preVoteGranted'
  | 'preVoteDenied'
  | 'success'
  | 'rejected'
  | 'snapshotProgress'
  | 'snapshotInstalled'
  | 'snapshotCovered';

/** The reply `answer` makes to the request `event`. */
export function replyTo(context: RaftServerContext, event: RaftServerEvent, answer: ReplyAnswer): RaftMessage {
  switch (answer) {
    case 'granted':
    case 'denied':
      return voteReply(context, asEvent(event, 'rpc.requestVote'), answer === 'granted');
    case 'preVoteGranted':
    case 'preVoteDenied':
      return preVoteReply(context, asEvent(event, 'rpc.preVote'), answer === 'preVoteGranted');
    case 'success':
    case 'rejected':
      return appendReply(context, asEvent(event, 'rpc.appendEntries'), answer === 'success');
    case 'snapshotProgress':
      return snapshotReply(context, asEvent(event, 'rpc.installSnapshot'), false, 0);
    case 'snapshotInstalled': {
      const request = asEvent(event, 'rpc.installSnapshot');
      return snapshotReply(context, request, true, request.lastIncludedIndex);
    }
    case 'snapshotCovered':
      return snapshotReply(context, asEvent(event, 'rpc.installSnapshot'), true, context.commitIndex);
  }
}

/** The reply to a RequestVote; granted only by transitions that first persist the vote. */
export function voteReply(context: RaftServerContext, request: RequestVote, voteGranted: boolean): RequestVoteReply {
  return { type: 'rpc.requestVote.reply', from: context.id, to: request.from, term: context.currentTerm, voteGranted };
}

/** The reply to a PreVote: granted for the term asked, or denied with this server's term (§9.6). */
export function preVoteReply(context: RaftServerContext, request: PreVote, voteGranted: boolean): PreVoteReply {
  return { type: 'rpc.preVote.reply', from: context.id, to: request.from, term: voteGranted ? request.term : context.currentTerm, voteGranted };
}

/** The reply to an AppendEntries: success carries the agreed index, a refusal the hint (§5.3). */
export function appendReply(context: RaftServerContext, request: AppendEntries, success: boolean): AppendEntriesReply {
  const hint = success ? { conflictTerm: 0, conflictIndex: 0 } : rejectionHint(context.log, request.prevLogIndex);
  return {
    type: 'rpc.appendEntries.reply',
    from: context.id,
    to: request.from,
    term: context.currentTerm,
    success,
    prevLogIndex: request.prevLogIndex,
    matchIndex: success ? request.prevLogIndex + request.entries.length : 0,
    ...hint,
    round: request.round,
  };
}

/** The reply to an InstallSnapshot: how many bytes are held, or that the snapshot is installed (Figure 13). */
export function snapshotReply(context: RaftServerContext, request: InstallSnapshot, installed: boolean, matchIndex: number): InstallSnapshotReply {
  const incoming = context.incomingSnapshot;
  const holds = incoming !== null && isSameTransfer(incoming, request);
  return {
    type: 'rpc.installSnapshot.reply',
    from: context.id,
    to: request.from,
    term: context.currentTerm,
    lastIncludedIndex: request.lastIncludedIndex,
    offset: installed ? request.totalBytes : holds ? incoming.received : 0,
    installed,
    matchIndex: installed ? matchIndex : 0,
  };
}

function isSameTransfer(incoming: IncomingSnapshot, request: InstallSnapshot): boolean {
  return (
    incoming.leaderId === request.from &&
    incoming.term === request.term &&
    incoming.index === request.lastIncludedIndex &&
    incoming.lastTerm === request.lastIncludedTerm &&
    incoming.totalBytes === request.totalBytes &&
    incoming.checksum === request.checksum
  );
}

/** The fields of a server's context that follow its configurations (§4.1): the newest is in force. */
function configFields(configs: readonly IndexedConfiguration[], id: NodeId) {
  const { index, configuration } = currentOf(configs);
  return { configs, voters: configuration.voters, learners: configuration.learners, configIndex: index, peers: peersOf(configuration, id) };
}

/** The configuration in force on this server. */
export function configurationOfContext(context: RaftServerContext): Configuration {
  return currentOf(context.configs).configuration;
}

/** A learner has caught up (§4.2.1): it holds at least what the leader held at the heartbeat before last, so it lags by less than a round. */
function isLearnerCaughtUp(context: RaftServerContext, id: NodeId): boolean {
  const progress = context.progress[id];
  return progress !== undefined && progress.matchIndex >= context.priorHeartbeatLastIndex;
}

/** The leader's own synced match: what its durable log holds that agrees with its log (rule 1). */
export function ownSyncedMatch(context: RaftServerContext): number {
  const { lastIndex, lastTerm } = context.synced;
  return context.log.matches(lastIndex, lastTerm) ? lastIndex : 0;
}

/** The highest index a majority holds durably, the leader's own synced copy included. */
export function quorumIndexOf(context: RaftServerContext): number {
  // Voters only (§4.2.1); a leader being removed counts not itself (§4.2.2).
  const matches: number[] = [];
  for (const voter of context.voters) matches.push(voter === context.id ? ownSyncedMatch(context) : (context.progress[voter]?.matchIndex ?? 0));
  return quorumMatchIndex(matches);
}

/**
 * The message a leader sends `peer` now, or null when flow control says wait: an AppendEntries
 * from a plan, or a chunk of the snapshot once the peer needs entries the log no longer holds (§7).
 */
function messageTo(context: RaftServerContext, peer: NodeId, heartbeat: boolean, round = context.round): AppendEntries | InstallSnapshot | null {
  const progress = context.progress[peer];
  if (progress === undefined) assert(false, `no progress for ${peer}`);
  if (needsSnapshot(progress, context.log)) {
    const snapshot = context.snapshot;
    // Compaction follows a durable snapshot only, so a compacted leader always has one to send.
    if (snapshot === null || snapshot.index < context.log.baseIndex) assert(false, `log compacted through ${context.log.baseIndex} without a snapshot`);
    startSnapshot(progress, snapshot, context.snapshotChecksum);
  }
  if (progress.mode === 'snapshot') {
    const chunk = planSnapshotChunk(progress, context.config.snapshotChunkBytesMax, heartbeat);
    if (chunk === null) return null;
    return {
      type: 'rpc.installSnapshot',
      from: context.id,
      to: peer,
      term: context.currentTerm,
      lastIncludedIndex: chunk.snapshot.index,
      lastIncludedTerm: chunk.snapshot.term,
      servers: chunk.snapshot.servers,
      offset: chunk.offset,
      data: chunk.data,
      done: chunk.done,
      totalBytes: chunk.snapshot.data.byteLength,
      checksum: chunk.checksum,
    };
  }
  const plan = planAppend(progress, context.log, context.config, heartbeat);
  if (plan === null) return null;
  return {
    type: 'rpc.appendEntries',
    from: context.id,
    to: peer,
    term: context.currentTerm,
    prevLogIndex: plan.prevLogIndex,
    prevLogTerm: plan.prevLogTerm,
    entries: plan.entries,
    leaderCommit: context.commitIndex,
    round,
  };
}

const durableLogRequest = (request: DurableLogEvent) => request;

export const raftServerMachine = setup({
  types: {
    context: {} as RaftServerContext,
    events: {} as RaftServerEvent,
    input: {} as RaftServerInput,
    emitted: {} as RaftServerEmitted,
  },
  actors: {
    durableLog: durableLogMachine,
  },
  delays: {
    electionTimeout: ({ context }) => context.electionTimeoutMs,
    heartbeatInterval: ({ context }) => context.config.heartbeatIntervalMs,
    leaderContactWindow: ({ context }) => context.config.electionTimeoutMsMin,
    transferTimeout: ({ context }) => context.config.electionTimeoutMsMax,
  },
  guards: {
    hasHigherTerm: ({ context, event }) => termOf(event) > context.currentTerm,
    isCurrentTerm: ({ context, event }) => termOf(event) === context.currentTerm,
    isStaleTerm: ({ context, event }) => termOf(event) >= 0 && termOf(event) < context.currentTerm,
    hasVotedForCandidate: ({ context, event }) => context.votedFor !== null && context.votedFor === asEvent(event, 'rpc.requestVote').from,
    hasNotVotedForAnother: ({ context, event }) =>
      context.votedFor === null || context.votedFor === asEvent(event, 'rpc.requestVote').from,
    isCandidateLogUpToDate: ({ context, event }) => {
      const request = asEvent(event, 'rpc.requestVote');
      return isLogUpToDate(request.lastLogTerm, request.lastLogIndex, context.log.lastTerm, context.log.lastIndex);
    },
    isVoteIgnoredInLease: ({ context, event }) => {
      const request = asEvent(event, 'rpc.requestVote');
      return context.config.checkQuorum && context.leaderContactRecent && !request.transfer && request.term > context.currentTerm;
    },
    usesPreVote: ({ context }) => context.config.preVote,
    canGrantPreVote: ({ context, event }) => {
      const request = asEvent(event, 'rpc.preVote');
      return (
        request.term > context.currentTerm &&
        !context.leaderContactRecent &&
        isLogUpToDate(request.lastLogTerm, request.lastLogIndex, context.log.lastTerm, context.log.lastIndex)
      );
    },
    isPreVoteReplyGranted: ({ event }) => asEvent(event, 'rpc.preVote.reply').voteGranted,
    isPreVoteForThisRound: ({ context, event }) => {
      const reply = asEvent(event, 'rpc.preVote.reply');
      return reply.voteGranted && reply.term === context.currentTerm + 1;
    },
    isTransferring: ({ context }) => context.transfer !== null,
    isTransferToSelf: ({ context, event }) => asEvent(event, 'client.transfer').to === context.id,
    isTransferTargetUnknown: ({ context, event }) => !context.voters.includes(asEvent(event, 'client.transfer').to),
    hasReadWork: ({ context }) => context.pendingReads.length > 0 && hasReadWork(context),
    prevLogMatches: ({ context, event }) => {
      const request = asEvent(event, 'rpc.appendEntries');
      return prevLogAgrees(context.log, request.prevLogIndex, request.prevLogTerm);
    },
    isVoteGranted: ({ event }) => asEvent(event, 'rpc.requestVote.reply').voteGranted,
    isAppendSuccess: ({ event }) => asEvent(event, 'rpc.appendEntries.reply').success,
    isLogSynced: ({ context }) => context.synced.seq >= context.logSeq,
    hasVoteQuorum: ({ context }) => {
      // Only voters of this server's configuration count (§4.1); a learner's grant is no vote.
      let votes = 0;
      for (const voter of context.votesGranted) if (context.voters.includes(voter)) votes++;
      return context.voters.length > 0 && votes >= quorumSize(context.voters.length);
    },
    hasLostQuorum: ({ context }) => {
      if (!context.config.checkQuorum || !isQuorumCheckDue(context)) return false;
      let heard = 0;
      for (const voter of context.voters) if (voter === context.id || context.progress[voter]?.recentActive === true) heard++;
      return heard < quorumSize(context.voters.length);
    },
    isVoter: ({ context }) => context.voters.includes(context.id),
    isConfigChangeUncommitted: ({ context }) => context.configIndex > context.commitIndex,
    isTermNoopUncommitted: ({ context }) => context.termStartIndex > context.commitIndex,
    hasConfigChangeProblem: ({ context, event }) => changeProblem(configurationOfContext(context), asEvent(event, 'client.changeConfig').change) !== null,
    isPromotionBehind: ({ context, event }) => {
      const { change } = asEvent(event, 'client.changeConfig');
      return change.type === 'promote' && !isLearnerCaughtUp(context, change.id);
    },
    isRemovalCommitted: ({ context }) => !context.voters.includes(context.id) && context.commitIndex >= context.configIndex,
    canSnapshot: ({ context }) => context.stateMachineSnapshots,
    isAnyFollowerSentSnapshot: ({ context }) => context.peers.some((peer) => context.progress[peer]?.mode === 'snapshot'),
    isSnapshotDue: ({ context }) => context.lastApplied >= snapshotDueIndex(context),
    isSnapshotUnderWay: ({ context }) => isSnapshotUnderWay(context),
    hasAppliedPastSnapshot: ({ context }) => context.lastApplied > newestSnapshotIndex(context),
    isSnapshotAwaited: ({ context, event }) => asEvent(event, 'state.snapshotted', 'state.snapshotFailed').index === context.snapshotAsked && context.snapshotAsked > 0,
    completesPendingSnapshot: ({ context, event }) => {
      const pending = context.pendingSnapshot;
      return event.type === 'log.synced' && pending !== null && event.position.seq >= pending.seq;
    },
    isSnapshotCovered: ({ context, event }) => asEvent(event, 'rpc.installSnapshot').lastIncludedIndex <= context.commitIndex,
    isSnapshotChunkExpected: ({ context, event }) => isChunkExpected(context, asEvent(event, 'rpc.installSnapshot')),
    isLastSnapshotChunk: ({ event }) => asEvent(event, 'rpc.installSnapshot').done,
    completesIntactSnapshot: ({ context, event }) => completesIntactSnapshot(context, asEvent(event, 'rpc.installSnapshot')),
    canCommitQuorumIndex: ({ context }) => {
      const index = quorumIndexOf(context);
      // §5.4.2 (Figure 8): count replicas only for an entry of the current term.
      return index > context.commitIndex && context.log.termAt(index) === context.currentTerm;
    },
  },
  actions: {
    drawElectionTimeout: assign(({ context }) => {
      const [electionTimeoutMs, random] = nextIntInclusive(
        context.random,
        context.config.electionTimeoutMsMin,
        context.config.electionTimeoutMsMax,
      );
      return { electionTimeoutMs, random };
    }),
    adoptTerm: assign(({ event }) => ({ currentTerm: termOf(event), votedFor: null, leaderId: null })),
    persistHardState: enqueueActions(({ context, enqueue }) => {
      const seq = context.logSeq + 1;
      enqueue.sendTo('durableLog', durableLogRequest({
        type: 'log.saveHardState',
        seq,
        hardState: { term: context.currentTerm, votedFor: context.votedFor },
      }));
      enqueue.assign({ logSeq: seq });
    }),
    reraise: raise(({ event }) => event),
    recordSynced: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'log.synced') return;
      if (event.position.seq < context.synced.seq) assert(false, `synced seq went back from ${context.synced.seq} to ${event.position.seq}`);
      enqueue.assign({ synced: event.position });
      for (const message of context.outbox.release(event.position.seq)) enqueue.emit({ type: 'net.send', message });
    }),
    recordFailure: assign(({ event }) => ({ failure: event.type === 'log.failed' ? event.failure : null })),
    recordLeader: assign(({ event }) => ({ leaderId: asEvent(event, 'rpc.appendEntries', 'rpc.installSnapshot').from, leaderContactRecent: true })),
    forgetLeaderContact: assign({ leaderContactRecent: false }),
    recordVote: assign(({ event }) => ({ votedFor: asEvent(event, 'rpc.requestVote').from })),
    reply: enqueueActions(({ context, event, enqueue }, params: { answer: ReplyAnswer }) => speak(context, enqueue, replyTo(context, event, params.answer))),
    requestSnapshot: enqueueActions(({ context, enqueue }) => {
      const index = context.lastApplied;
      enqueue.assign({ snapshotAsked: index });
      enqueue.emit({ type: 'state.snapshot', index, term: context.log.termAt(index) as number });
    }),
    awaitSnapshot: ({ context, event }) => {
      context.snapshotWaiters.push(asEvent(event, 'client.snapshot').requestId);
    },
    answerWithCurrentSnapshot: emit(({ context, event }): RaftServerEmitted => ({
      type: 'client.snapshotted',
      requestId: asEvent(event, 'client.snapshot').requestId,
      ok: true,
      index: context.snapshot?.index ?? 0,
      term: context.snapshot?.term ?? 0,
      reason: null,
    })),
    refuseSnapshotRequest: emit(({ context, event }): RaftServerEmitted => ({
      type: 'client.snapshotted',
      requestId: asEvent(event, 'client.snapshot').requestId,
      ok: false,
      index: 0,
      term: 0,
      reason: context.stateMachineSnapshots ? 'failed' : 'unsupported',
    })),
    persistSnapshot: enqueueActions(({ context, event, enqueue }) => {
      const { index, term, data } = asEvent(event, 'state.snapshotted');
      const configuration = configurationAt(context.configs, index);
      const snapshot: Snapshot = { index, term, servers: configuration.voters, learners: configuration.learners, data };
      const seq = context.logSeq + 1;
      // The log after the snapshot goes with it: storage starts the log afresh there (§7).
      const entries = context.log.slice(index + 1, context.log.lastIndex + 1);
      enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.snapshot', seq, snapshot, entries }));
      enqueue.assign({ logSeq: seq, pendingSnapshot: { seq, snapshot }, snapshotAsked: 0 });
    }),
    recordSnapshotRefused: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({ snapshotAsked: 0, snapshotRefusedAt: asEvent(event, 'state.snapshotFailed').index });
      answerSnapshotWaiters(context, enqueue, null);
    }),
    completeSnapshot: enqueueActions(({ context, enqueue }) => {
      const snapshot = context.pendingSnapshot?.snapshot;
      if (snapshot === undefined) assert(false, 'completeSnapshot without a pending snapshot');
      // Only now that the snapshot is durable may the log behind it go, less what lagging followers may still need.
      context.log.compactThrough(Math.max(context.log.baseIndex, snapshot.index - context.config.snapshotKeepEntries));
      enqueue.assign({ snapshot, snapshotChecksum: crc32c(snapshot.data), pendingSnapshot: null, ...configFields(withCompacted(context.configs, context.log.baseIndex), context.id) });
      answerSnapshotWaiters(context, enqueue, snapshot);
    }),
    gatherSnapshotChunk: enqueueActions(({ context, event, enqueue }) => {
      const request = asEvent(event, 'rpc.installSnapshot');
      if (request.offset === 0) {
        enqueue.assign({
          incomingSnapshot: {
            leaderId: request.from,
            term: request.term,
            index: request.lastIncludedIndex,
            lastTerm: request.lastIncludedTerm,
            totalBytes: request.totalBytes,
            checksum: request.checksum,
            chunks: [request.data],
            received: request.data.byteLength,
          },
        });
        return;
      }
      const incoming = context.incomingSnapshot as IncomingSnapshot;
      incoming.chunks.push(request.data);
      incoming.received += request.data.byteLength;
    }),
    installSnapshot: enqueueActions(({ context, event, enqueue }) => {
      const snapshot = snapshotOfTransfer(context, asEvent(event, 'rpc.installSnapshot'));
      const log = context.log;
      // Figure 13, steps 6–7: an entry matching the snapshot's last keeps the log after it; else the whole log goes.
      let entries: Entry[] = [];
      if (log.matches(snapshot.index, snapshot.term)) {
        entries = log.slice(snapshot.index + 1, log.lastIndex + 1);
        log.compactThrough(snapshot.index);
      } else {
        log.resetTo(snapshot.index, snapshot.term);
      }
      const seq = context.logSeq + 1;
      enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.snapshot', seq, snapshot, entries }));
      // Step 8: the state machine from the snapshot. Any snapshot asked of the host meanwhile is stale now.
      enqueue.emit({ type: 'state.restore', snapshot });
      // The configuration is the snapshot's, then that of any config entry in the log kept after it.
      const base: IndexedConfiguration = { index: snapshot.index, configuration: { voters: snapshot.servers, learners: snapshot.learners ?? [] } };
      enqueue.assign({
        ...configFields(withAppended([base], entries), context.id),
        logSeq: seq,
        commitIndex: Math.max(context.commitIndex, snapshot.index),
        lastApplied: snapshot.index,
        pendingSnapshot: { seq, snapshot },
        snapshotAsked: 0,
        incomingSnapshot: null,
      });
    }),
    forgetIncomingSnapshot: enqueueActions(({ context, enqueue }) => {
      if (context.incomingSnapshot !== null) enqueue.assign({ incomingSnapshot: null });
    }),
    restoreRecoveredSnapshot: enqueueActions(({ context, enqueue }) => {
      if (context.snapshot !== null) enqueue.emit({ type: 'state.restore', snapshot: context.snapshot });
    }),
    recordSnapshotReply: enqueueActions(({ context, event, enqueue }) => {
      const reply = asEvent(event, 'rpc.installSnapshot.reply');
      const progress = context.progress[reply.from];
      if (progress === undefined) return;
      progress.recentActive = true;
      if (onSnapshotReply(progress, reply.lastIncludedIndex, reply.installed, reply.offset, reply.matchIndex) === 'ignored') return;
      const message = messageTo(context, reply.from, false);
      if (message !== null) enqueue.emit({ type: 'net.send', message });
    }),
    appendNewEntries: enqueueActions(({ context, event, enqueue }) => {
      const request = asEvent(event, 'rpc.appendEntries');
      const change = reconcileWithLeader(context.log, request.prevLogIndex, request.entries, context.commitIndex);
      // A server uses the newest configuration in its log, committed or not (§4.1): a truncated one goes, an appended one is in force.
      let configs = context.configs;
      if (change.truncatedFrom !== null) configs = withTruncated(configs, change.truncatedFrom);
      configs = withAppended(configs, change.appended);
      if (configs !== context.configs) enqueue.assign(configFields(configs, context.id));
      let seq = context.logSeq;
      if (change.truncatedFrom !== null) {
        seq++;
        enqueue.sendTo('durableLog', durableLogRequest({
          type: 'log.truncate',
          seq,
          fromIndex: change.truncatedFrom,
          prevTerm: context.log.termAt(change.truncatedFrom - 1) ?? 0,
        }));
      }
      if (change.appended.length > 0) {
        seq++;
        enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.append', seq, entries: change.appended }));
      }
      enqueue.assign({ logSeq: seq });
    }),
    advanceCommitFromLeader: assign(({ context, event }) => {
      const request = asEvent(event, 'rpc.appendEntries');
      // Figure 2: commitIndex = min(leaderCommit, index of last new entry); never backwards.
      const lastNew = request.prevLogIndex + request.entries.length;
      return { commitIndex: Math.max(context.commitIndex, Math.min(request.leaderCommit, lastNew)) };
    }),
    applyCommitted: enqueueActions(({ context, enqueue }) => {
      if (context.commitIndex <= context.lastApplied) return;
      let from = context.lastApplied + 1;
      // A snapshot falls due inside this run: apply up to it, snapshot there, then apply the rest,
      // so that snapshots come every snapshotEvery entries exactly, whatever the runs' lengths (§7).
      const due = snapshotDueIndex(context);
      if (due >= from && due < context.commitIndex) {
        enqueue.emit({ type: 'state.apply', entries: context.log.slice(from, due + 1) });
        enqueue.emit({ type: 'state.snapshot', index: due, term: context.log.termAt(due) as number });
        enqueue.assign({ snapshotAsked: due });
        from = due + 1;
      }
      enqueue.emit({ type: 'state.apply', entries: context.log.slice(from, context.commitIndex + 1) });
      enqueue.assign({ lastApplied: context.commitIndex });
    }),
    startElection: assign(({ context }) => ({
      currentTerm: context.currentTerm + 1,
      votedFor: context.id,
      leaderId: null,
      votesGranted: [],
      votesAnswered: [],
      leaderContactRecent: false,
      campaignTransfer: context.timeoutNowReceived,
      timeoutNowReceived: false,
    })),
    startPreVote: assign(({ context }) => ({ leaderId: null, votesGranted: [context.id], votesAnswered: [], leaderContactRecent: false })),
    requestPreVotes: enqueueActions(({ context, enqueue }) => {
      for (const peer of context.voters) {
        if (peer === context.id || context.votesAnswered.includes(peer)) continue;
        const request: PreVote = {
          type: 'rpc.preVote',
          from: context.id,
          to: peer,
          term: context.currentTerm + 1,
          lastLogIndex: context.log.lastIndex,
          lastLogTerm: context.log.lastTerm,
        };
        enqueue.emit({ type: 'net.send', message: request });
      }
    }),
    recordTimeoutNow: assign({ timeoutNowReceived: true }),
    countOwnVote: assign(({ context }) => (context.votesGranted.includes(context.id) ? {} : { votesGranted: [...context.votesGranted, context.id] })),
    /** A vote (or, in preCandidate, a pre-vote) granted: counted once per voter. */
    countVote: assign(({ context, event }) => {
      const voter = asEvent(event, 'rpc.requestVote.reply', 'rpc.preVote.reply').from;
      if (context.votesGranted.includes(voter)) return {};
      return { votesGranted: [...context.votesGranted, voter], votesAnswered: [...context.votesAnswered, voter] };
    }),
    recordVoteDenied: assign(({ context, event }) => {
      const voter = asEvent(event, 'rpc.requestVote.reply', 'rpc.preVote.reply').from;
      return context.votesAnswered.includes(voter) ? {} : { votesAnswered: [...context.votesAnswered, voter] };
    }),
    requestVotes: enqueueActions(({ context, enqueue }) => {
      for (const peer of context.voters) {
        if (peer === context.id || context.votesAnswered.includes(peer)) continue;
        const request: RequestVote = {
          type: 'rpc.requestVote',
          from: context.id,
          to: peer,
          term: context.currentTerm,
          lastLogIndex: context.log.lastIndex,
          lastLogTerm: context.log.lastTerm,
          transfer: context.campaignTransfer,
        };
        enqueue.emit({ type: 'net.send', message: request });
      }
    }),
    becomeLeader: assign(({ context }) => {
      const progress: Record<NodeId, Progress> = {};
      for (const peer of context.peers) progress[peer] = initialProgress(context.log.lastIndex);
      return {
        leaderId: context.id,
        progress,
        heartbeatsSinceQuorumCheck: 0,
        leaderContactRecent: true,
        round: 0,
        pendingReads: [],
        transfer: null,
        handedOverThisTerm: false,
        heartbeatLastIndex: context.log.lastIndex,
        priorHeartbeatLastIndex: context.log.lastIndex,
      };
    }),
    acceptRead: assign(({ context, event }) => {
      const { requestId } = asEvent(event, 'client.read');
      // Everything committed when the read arrived: the commit index, and at least this term's
      // no-op, whose commit shows every earlier leader's committed entries are here (§6.4, step 1).
      const index = Math.max(context.commitIndex, context.termStartIndex);
      // A lease needs no round; otherwise the read waits for a round begun after it arrived.
      const round = isLeaseValid(context) ? 0 : context.round + 1;
      return { pendingReads: [...context.pendingReads, { requestId, index, round }] };
    }),
    serveReads: enqueueActions(({ context, enqueue }) => {
      const acked = quorumAckedRound(context);
      const waiting: PendingRead[] = [];
      for (const read of context.pendingReads) {
        if (read.round <= acked && read.index <= context.lastApplied) {
          enqueue.emit({ type: 'client.readReady', requestId: read.requestId, ok: true, index: read.index, term: context.currentTerm, leaderId: context.id });
        } else {
          waiting.push(read);
        }
      }
      enqueue.assign({ pendingReads: waiting });
      // Reads that need a round begun after they arrived get one at once, beside those still out,
      // up to readRoundsAheadMax unanswered (pipelined, as etcd-io/raft sends a heartbeat per
      // ReadIndex); past that they share the next. The host hands over a turn's reads as one client.read.
      if (context.round - acked < readRoundsAheadMax && waiting.some((read) => read.round > context.round)) startRound(context, enqueue);
    }),
    refuseRead: emit(({ context, event }): RaftServerEmitted => ({
      type: 'client.readReady',
      requestId: asEvent(event, 'client.read').requestId,
      ok: false,
      index: 0,
      term: context.currentTerm,
      leaderId: context.leaderId,
    })),
    refusePendingReads: enqueueActions(({ context, enqueue }) => {
      if (context.pendingReads.length === 0) return;
      for (const read of context.pendingReads) {
        // Leaving leadership (before the cause is taken in): the new leader is not known yet.
        enqueue.emit({ type: 'client.readReady', requestId: read.requestId, ok: false, index: 0, term: context.currentTerm, leaderId: null });
      }
      enqueue.assign({ pendingReads: [] });
    }),
    startTransfer: enqueueActions(({ context, event, enqueue }) => {
      const { requestId, to } = asEvent(event, 'client.transfer');
      const transfer: LeaderTransfer = { to, requestId, timeoutNowSent: false };
      enqueue.assign({ transfer });
      if (isCaughtUp(context, to)) {
        handOver(context, enqueue, transfer);
        return;
      }
      const message = messageTo(context, to, false);
      if (message !== null) enqueue.emit({ type: 'net.send', message });
    }),
    answerTransfer: emit(({ context, event }, params: { outcome: TransferAnswer['outcome'] }): RaftServerEmitted => ({
      type: 'client.transferred',
      requestId: asEvent(event, 'client.transfer').requestId,
      outcome: params.outcome,
      leaderId: context.leaderId,
    })),
    abortTransfer: enqueueActions(({ context, enqueue }) => {
      const transfer = context.transfer;
      if (transfer === null) return;
      enqueue.emit({ type: 'client.transferred', requestId: transfer.requestId, outcome: 'timedOut', leaderId: context.id });
      enqueue.assign({ transfer: null });
    }),
    forgetTransfer: assign({ transfer: null }),
    countHeartbeat: enqueueActions(({ context, enqueue }) => {
      if (!isQuorumCheckDue(context)) {
        enqueue.assign({ heartbeatsSinceQuorumCheck: context.heartbeatsSinceQuorumCheck + 1 });
        return;
      }
      // A check passed (hasLostQuorum said no): the next one counts only answers from now on.
      for (const peer of context.peers) {
        const progress = context.progress[peer];
        if (progress !== undefined) progress.recentActive = false;
      }
      enqueue.assign({ heartbeatsSinceQuorumCheck: 0 });
    }),
    failOnSecondLeader: ({ context, event }) => {
      const message = asEvent(event, 'rpc.appendEntries', 'rpc.installSnapshot');
      assert(false, `${context.id} leads term ${context.currentTerm}, and ${message.from} sent ${message.type} as its leader too: Election Safety is broken`);
    },
    forgetLeader: assign({ leaderId: null }),
    appendNoop: enqueueActions(({ context, enqueue }) => {
      const entry: Entry = { index: context.log.lastIndex + 1, term: context.currentTerm, kind: 'noop', command: new Uint8Array(0) };
      context.log.append([entry]);
      const seq = context.logSeq + 1;
      enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.append', seq, entries: [entry] }));
      enqueue.assign({ logSeq: seq, termStartIndex: entry.index });
    }),
    appendProposals: enqueueActions(({ context, event, enqueue }) => {
      const { requestId, commands } = asEvent(event, 'client.propose');
      const first = context.log.lastIndex + 1;
      const entries: Entry[] = commands.map((command, i) => ({ index: first + i, term: context.currentTerm, kind: 'command', command }));
      if (entries.length > 0) {
        context.log.append(entries);
        const seq = context.logSeq + 1;
        enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.append', seq, entries }));
        enqueue.assign({ logSeq: seq });
      }
      enqueue.emit({
        type: 'client.proposed',
        requestId,
        isLeader: true,
        leaderId: context.id,
        term: context.currentTerm,
        index: first,
        count: entries.length,
      });
    }),
    rejectProposal: emit(({ context, event }): RaftServerEmitted => ({
      type: 'client.proposed',
      requestId: asEvent(event, 'client.propose').requestId,
      isLeader: false,
      // A leader handing over points at the server about to lead.
      leaderId: context.transfer?.to ?? context.leaderId,
      term: context.currentTerm,
      index: 0,
      count: 0,
    })),
    replicateToAll: enqueueActions(({ context, enqueue }) => {
      for (const peer of context.peers) {
        const message = messageTo(context, peer, false);
        if (message !== null) enqueue.emit({ type: 'net.send', message });
      }
    }),
    sendHeartbeats: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ priorHeartbeatLastIndex: context.heartbeatLastIndex, heartbeatLastIndex: context.log.lastIndex });
      startRound(context, enqueue);
    }),
    appendConfigChange: enqueueActions(({ context, event, enqueue }) => {
      const { requestId, change } = asEvent(event, 'client.changeConfig');
      const configuration = applyChange(configurationOfContext(context), change);
      const entry: Entry = { index: context.log.lastIndex + 1, term: context.currentTerm, kind: 'config', command: encodeConfiguration(configuration) };
      context.log.append([entry]);
      const seq = context.logSeq + 1;
      enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.append', seq, entries: [entry] }));
      // In force at once, before it commits (§4.1): a new learner gets a progress and the log, a removed server neither.
      const fields = configFields(withAppended(context.configs, [entry]), context.id);
      const progress: Record<NodeId, Progress> = {};
      for (const peer of fields.peers) progress[peer] = context.progress[peer] ?? initialProgress(entry.index - 1);
      enqueue.assign({ ...fields, progress, logSeq: seq });
      enqueue.emit({ type: 'client.configChanged', requestId, outcome: 'appended', index: entry.index, term: context.currentTerm, leaderId: context.id });
    }),
    answerConfigChange: emit(({ context, event }, params: { outcome: ConfigChangeAnswer['outcome'] | null }): RaftServerEmitted => {
      const { requestId, change } = asEvent(event, 'client.changeConfig');
      const outcome = params.outcome ?? changeProblem(configurationOfContext(context), change) ?? 'inProgress';
      return { type: 'client.configChanged', requestId, outcome, index: 0, term: context.currentTerm, leaderId: context.transfer?.to ?? context.leaderId };
    }),
    recordAppendSuccess: enqueueActions(({ context, event, enqueue }) => {
      const reply = asEvent(event, 'rpc.appendEntries.reply');
      const progress = context.progress[reply.from];
      if (progress === undefined) return;
      progress.recentActive = true;
      if (reply.round > progress.ackedRound) progress.ackedRound = reply.round;
      onAppendSuccess(progress, Math.min(reply.matchIndex, context.log.lastIndex));
      const transfer = context.transfer;
      if (transfer !== null && transfer.to === reply.from && !transfer.timeoutNowSent && isCaughtUp(context, reply.from)) {
        handOver(context, enqueue, transfer);
        return;
      }
      const message = messageTo(context, reply.from, false);
      if (message !== null) enqueue.emit({ type: 'net.send', message });
    }),
    recordAppendRejection: enqueueActions(({ context, event, enqueue }) => {
      const reply = asEvent(event, 'rpc.appendEntries.reply');
      const progress = context.progress[reply.from];
      if (progress === undefined) return;
      progress.recentActive = true;
      if (reply.round > progress.ackedRound) progress.ackedRound = reply.round;
      if (!onAppendRejected(progress, context.log, reply.prevLogIndex, reply.conflictTerm, reply.conflictIndex)) return;
      const message = messageTo(context, reply.from, false);
      if (message !== null) enqueue.emit({ type: 'net.send', message });
    }),
    commitQuorumIndex: assign(({ context }) => ({ commitIndex: quorumIndexOf(context) })),
  },
}).createMachine({
  id: 'raftServer',
  description: 'A Raft server (Ongaro & Ousterhout, Figure 2). Roles per §5.1; every reply waits for the durable log (§5.5, rule 1); snapshots per §7.',
  context: ({ input }) => {
    const config = resolveRaftConfig(input.config);
    const hardState = input.recovered?.hardState ?? { term: 0, votedFor: null };
    const snapshot = input.recovered?.snapshot ?? null;
    const log = new RaftLog(input.recovered?.entries ?? [], snapshot === null ? {} : { base: { index: snapshot.index, term: snapshot.term } });
    // A snapshot holds applied, hence committed, entries only: they need not be applied again.
    const applied = snapshot?.index ?? 0;
    // The configuration at the log's base (the snapshot's, else the initial one), then every config entry after it (§4.1).
    const base: Configuration = snapshot === null ? { voters: [...input.servers], learners: [] } : { voters: snapshot.servers, learners: snapshot.learners ?? [] };
    const configs = withAppended([{ index: applied, configuration: base }], input.recovered?.entries ?? []);
    return {
      id: input.id,
      ...configFields(configs, input.id),
      heartbeatLastIndex: 0,
      priorHeartbeatLastIndex: 0,
      config,
      random: deriveRandomState(input.randomSeed, `raft-server/${input.id}`),
      electionTimeoutMs: config.electionTimeoutMsMax,
      currentTerm: hardState.term,
      votedFor: hardState.votedFor,
      log,
      commitIndex: applied,
      lastApplied: applied,
      leaderId: null,
      logSeq: 0,
      synced: { seq: 0, lastIndex: log.lastIndex, lastTerm: log.lastTerm, hardState, snapshotIndex: applied },
      outbox: new Outbox(),
      votesGranted: [],
      votesAnswered: [],
      progress: {},
      heartbeatsSinceQuorumCheck: 0,
      leaderContactRecent: config.readMode === 'lease',
      round: 0,
      termStartIndex: 0,
      pendingReads: [],
      transfer: null,
      handedOverThisTerm: false,
      timeoutNowReceived: false,
      campaignTransfer: false,
      failure: null,
      durableLogOptions: input.durableLog ?? {},
      stateMachineSnapshots: input.stateMachineSnapshots ?? false,
      snapshot,
      snapshotChecksum: snapshot === null ? 0 : crc32c(snapshot.data),
      pendingSnapshot: null,
      snapshotAsked: 0,
      snapshotRefusedAt: 0,
      snapshotWaiters: [],
      incomingSnapshot: null,
    };
  },
  invoke: {
    id: 'durableLog',
    src: 'durableLog',
    input: ({ context }) => ({
      ...context.durableLogOptions,
      position: { lastIndex: context.log.lastIndex, lastTerm: context.log.lastTerm, hardState: context.synced.hardState, snapshotIndex: context.synced.snapshotIndex },
    }),
  },
  entry: 'restoreRecoveredSnapshot',
  initial: 'follower',
  always: {
    guard: 'isSnapshotDue',
    actions: 'requestSnapshot',
    description:
      'snapshotEvery entries applied since the last snapshot: ask the state machine for one at lastApplied (§7). (A run of applies that passes the due index asks right there.)',
  },
  on: {
    'rpc.requestVote': [
      {
        guard: 'isVoteIgnoredInLease',
        description:
          'CheckQuorum: a leader was heard within a minimum election timeout, so this election can only unseat a live leader; ignore it, term and all (§4.2.3). A transfer election is answered.',
      },
      { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    ],
    'rpc.preVote': [
      {
        guard: 'canGrantPreVote',
        actions: { type: 'reply', params: { answer: 'preVoteGranted' } },
        description: 'PreVote (§9.6): a later term, an up-to-date log, and no leader heard within a minimum election timeout. Nothing changes here: not the term, not the vote.',
      },
      { actions: { type: 'reply', params: { answer: 'preVoteDenied' } }, description: 'Denied, with this server\'s term; nothing changes here.' },
    ],
    'rpc.preVote.reply': {
      guard: and(['hasHigherTerm', not('isPreVoteReplyGranted')]),
      target: '.follower',
      actions: ['adoptTerm', 'persistHardState'],
      description: 'Denied by a server of a later term: take it (§5.1).',
    },
    'rpc.timeoutNow': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.requestVote.reply': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.appendEntries': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.appendEntries.reply': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.installSnapshot': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.installSnapshot.reply': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'log.synced': [
      {
        guard: 'completesPendingSnapshot',
        actions: ['recordSynced', 'completeSnapshot'],
        description: 'The snapshot is durable: only now is the log behind it dropped, keeping snapshotKeepEntries for lagging followers (§7).',
      },
      { actions: 'recordSynced' },
    ],
    'log.failed': { target: '.failed', actions: 'recordFailure' },
    'client.snapshot': [
      { guard: not('canSnapshot'), actions: 'refuseSnapshotRequest', description: 'The state machine cannot snapshot itself.' },
      { guard: 'isSnapshotUnderWay', actions: 'awaitSnapshot', description: 'A snapshot is under way: answer when it is durable.' },
      { guard: 'hasAppliedPastSnapshot', actions: ['awaitSnapshot', 'requestSnapshot'], description: 'Snapshot at lastApplied now.' },
      { actions: 'answerWithCurrentSnapshot', description: 'Nothing applied since the last snapshot: it is the answer.' },
    ],
    'state.snapshotted': {
      guard: 'isSnapshotAwaited',
      actions: 'persistSnapshot',
      description: 'The state machine after 1..index: make it durable (the durable log writes it, then starts the log afresh after it).',
    },
    'state.snapshotFailed': { guard: 'isSnapshotAwaited', actions: 'recordSnapshotRefused' },
  },
  states: {
    follower: {
      description: 'Passive: answers RPCs (§5.1). Starts an election when no valid leader is heard for a random timeout (§5.2).',
      entry: 'drawElectionTimeout',
      after: {
        leaderContactWindow: {
          actions: 'forgetLeaderContact',
          description: 'A minimum election timeout without a leader: pre-votes may be granted, and elections are no longer ignored (§9.6, §4.2.3).',
        },
        electionTimeout: [
          { guard: not('isVoter'), description: 'Not a voter of its configuration (a learner, a removed server, one not added yet): never stands (§4.2.1); a leader\'s next message re-arms the timer.' },
          { guard: 'usesPreVote', target: 'preCandidate', description: 'No leader heard: ask whether an election could be won, first (§9.6).' },
          { target: 'candidate', description: 'No leader heard: start an election (§5.2).' },
        ],
      },
      initial: 'listening',
      states: {
        listening: {
          description: 'Answering AppendEntries and RequestVote; no snapshot is being received.',
          entry: 'forgetIncomingSnapshot',
        },
        receivingSnapshot: {
          description: 'Gathering a leader\'s InstallSnapshot chunks in order (§7); any AppendEntries ends it.',
        },
      },
      on: {
        'rpc.requestVote': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'denied' } }, description: 'Stale term: refuse, carrying our term (§5.1).' },
          {
            guard: and(['isCurrentTerm', 'hasVotedForCandidate']),
            target: 'follower',
            reenter: true,
            actions: { type: 'reply', params: { answer: 'granted' } },
            description: 'The same candidate asking again gets the same answer and causes no new write (§5.5, idempotence).',
          },
          {
            guard: and(['isCurrentTerm', 'hasNotVotedForAnother', 'isCandidateLogUpToDate']),
            target: 'follower',
            reenter: true,
            actions: ['recordVote', 'persistHardState', { type: 'reply', params: { answer: 'granted' } }],
            description: 'One vote per term, first come (§5.2), only for an up-to-date log (§5.4.1); granted after the vote is synced.',
          },
          { guard: 'isCurrentTerm', actions: { type: 'reply', params: { answer: 'denied' } } },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'rejected' } }, description: 'Stale leader: refuse, carrying our term (§5.1).' },
          {
            guard: and(['isCurrentTerm', 'prevLogMatches']),
            target: 'follower',
            reenter: true,
            actions: ['recordLeader', 'appendNewEntries', 'advanceCommitFromLeader', 'applyCommitted', { type: 'reply', params: { answer: 'success' } }],
            description:
              'Consistency check passed (§5.3; an index inside the compacted prefix is committed, so it agrees): delete only a conflicting suffix, append, learn the commit index; reply once synced.',
          },
          {
            guard: 'isCurrentTerm',
            target: 'follower',
            reenter: true,
            actions: ['recordLeader', { type: 'reply', params: { answer: 'rejected' } }],
            description: 'Consistency check failed (§5.3): refuse with a hint so the leader backs up a term at a time.',
          },
        ],
        'rpc.installSnapshot': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'snapshotProgress' } }, description: 'Stale leader: refuse, carrying our term (§5.1).' },
          {
            guard: and(['isCurrentTerm', 'isSnapshotCovered']),
            target: '.listening',
            reenter: true,
            actions: ['recordLeader', { type: 'reply', params: { answer: 'snapshotCovered' } }],
            description: 'The snapshot holds nothing this log has not committed already: keep the log, and say how far it agrees (§7).',
          },
          {
            guard: and(['isCurrentTerm', 'isSnapshotChunkExpected', 'completesIntactSnapshot']),
            target: '.listening',
            reenter: true,
            actions: ['recordLeader', 'installSnapshot', { type: 'reply', params: { answer: 'snapshotInstalled' } }],
            description:
              'The last chunk, and the whole checks out: keep the log after an entry matching its last, else discard it; restore the state machine; reply once the snapshot is durable (Figure 13, rule 1).',
          },
          {
            guard: and(['isCurrentTerm', 'isSnapshotChunkExpected', not('isLastSnapshotChunk')]),
            target: '.receivingSnapshot',
            reenter: true,
            actions: ['recordLeader', 'gatherSnapshotChunk', { type: 'reply', params: { answer: 'snapshotProgress' } }],
            description: 'The next chunk in order: keep it and say how many bytes are held (Figure 13, steps 2–4).',
          },
          {
            guard: and(['isCurrentTerm', 'isSnapshotChunkExpected']),
            target: '.listening',
            reenter: true,
            actions: ['recordLeader', 'forgetIncomingSnapshot', { type: 'reply', params: { answer: 'snapshotProgress' } }],
            description: 'The last chunk, but the whole fails its checksum or size: start over from offset 0.',
          },
          {
            guard: 'isCurrentTerm',
            target: '.receivingSnapshot',
            reenter: true,
            actions: ['recordLeader', { type: 'reply', params: { answer: 'snapshotProgress' } }],
            description: 'A chunk out of order (lost, late or duplicated): say which offset comes next.',
          },
        ],
        'rpc.timeoutNow': {
          guard: and(['isCurrentTerm', 'isVoter']),
          target: 'candidate',
          actions: 'recordTimeoutNow',
          description: 'The leader hands over (§3.10): stand now, without waiting for a timeout or asking for pre-votes.',
        },
        'client.propose': { actions: 'rejectProposal', description: 'Not the leader: answer with the leader we know.' },
        'client.read': { actions: 'refuseRead', description: 'Not the leader: answer with the leader we know.' },
        'client.transfer': { actions: { type: 'answerTransfer', params: { outcome: 'notLeader' } } },
        'client.changeConfig': { actions: { type: 'answerConfigChange', params: { outcome: 'notLeader' } } },
      },
    },
    preCandidate: {
      description:
        'PreVote (§9.6): asks every peer whether it would vote in term + 1, changing nothing durable, and stands only when a majority would. A server cut off from the majority so keeps its term and cannot unseat a healthy leader when it returns.',
      entry: ['drawElectionTimeout', 'startPreVote', 'requestPreVotes'],
      always: { guard: 'hasVoteQuorum', target: 'candidate', description: 'A majority would vote: stand (§9.6).' },
      after: {
        electionTimeout: { target: 'preCandidate', reenter: true, description: 'No majority in time: ask again, with a new random timeout.' },
      },
      initial: 'awaitingPreVotes',
      states: {
        awaitingPreVotes: {
          description: 'Waiting for answers; every heartbeat interval, asks again each peer that has not answered.',
          after: {
            heartbeatInterval: { target: 'awaitingPreVotes', reenter: true, actions: 'requestPreVotes', description: 'Ask again every peer that has not answered (§5.5).' },
          },
        },
      },
      on: {
        'rpc.preVote.reply': [
          { guard: 'isPreVoteForThisRound', actions: 'countVote' },
          { guard: and([not('isPreVoteReplyGranted'), not('hasHigherTerm')]), actions: 'recordVoteDenied' },
        ],
        'rpc.requestVote': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'denied' } } },
          { guard: 'isCurrentTerm', target: 'follower', actions: 'reraise', description: 'It has not voted this term: the follower answers.' },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'rejected' } } },
          { guard: 'isCurrentTerm', target: 'follower', actions: 'reraise', description: 'A leader of this term is alive: follow it.' },
        ],
        'rpc.installSnapshot': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'snapshotProgress' } } },
          { guard: 'isCurrentTerm', target: 'follower', actions: 'reraise', description: 'A leader of this term is alive: follow it.' },
        ],
        'rpc.timeoutNow': { guard: 'isCurrentTerm', target: 'candidate', actions: 'recordTimeoutNow', description: 'The leader hands over (§3.10): stand now.' },
        'client.propose': { actions: 'rejectProposal' },
        'client.read': { actions: 'refuseRead' },
        'client.transfer': { actions: { type: 'answerTransfer', params: { outcome: 'notLeader' } } },
        'client.changeConfig': { actions: { type: 'answerConfigChange', params: { outcome: 'notLeader' } } },
      },
    },
    candidate: {
      description: 'Campaigning (§5.2): a new term, a vote for itself, synced before asking anyone.',
      entry: ['startElection', 'persistHardState', 'drawElectionTimeout'],
      after: {
        electionTimeout: {
          target: 'candidate',
          reenter: true,
          description: 'Split vote or lost messages: a new election with a new random timeout (§5.2).',
        },
      },
      initial: 'persistingVote',
      states: {
        persistingVote: {
          description: 'The new term and self-vote must be durable before the candidate counts or asks (§5.5).',
          always: { guard: 'isLogSynced', target: 'requestingVotes' },
        },
        requestingVotes: {
          description: 'RequestVote to every peer in parallel, carrying the last log index and term (§5.4.1).',
          entry: ['countOwnVote', 'requestVotes'],
          always: { guard: 'hasVoteQuorum', target: '#raftServer.leader', description: 'Votes from a majority: win (§5.2).' },
          on: {
            'rpc.requestVote.reply': [
              { guard: and(['isCurrentTerm', 'isVoteGranted']), actions: 'countVote' },
              { guard: 'isCurrentTerm', actions: 'recordVoteDenied' },
            ],
          },
          initial: 'awaitingVotes',
          states: {
            awaitingVotes: {
              description: 'Waiting for replies; every heartbeat interval, asks again each peer that has not answered (§5.5).',
              after: {
                heartbeatInterval: {
                  target: 'awaitingVotes',
                  reenter: true,
                  actions: 'requestVotes',
                  description: 'Ask again every peer that has not answered: RPCs are retried until answered (§5.5).',
                },
              },
            },
          },
        },
      },
      on: {
        'rpc.requestVote': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'denied' } } },
          { guard: 'isCurrentTerm', actions: { type: 'reply', params: { answer: 'denied' } }, description: 'Already voted for itself this term.' },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'rejected' } } },
          {
            guard: 'isCurrentTerm',
            target: 'follower',
            actions: 'reraise',
            description: 'A leader of this term exists: step down and let the follower handle it (§5.2).',
          },
        ],
        'rpc.installSnapshot': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'snapshotProgress' } } },
          { guard: 'isCurrentTerm', target: 'follower', actions: 'reraise', description: 'A leader of this term exists: step down (§5.2).' },
        ],
        'client.propose': { actions: 'rejectProposal' },
        'client.read': { actions: 'refuseRead' },
        'client.transfer': { actions: { type: 'answerTransfer', params: { outcome: 'notLeader' } } },
        'client.changeConfig': { actions: { type: 'answerConfigChange', params: { outcome: 'notLeader' } } },
      },
    },
    leader: {
      description: 'Replicates its log (§5.3); commits by counting replicas only in its own term (§5.4.2); sends its snapshot to followers it has compacted past (§7).',
      entry: ['becomeLeader', 'appendNoop', 'sendHeartbeats'],
      exit: ['refusePendingReads', 'forgetTransfer'],
      always: [
        {
          guard: 'canCommitQuorumIndex',
          actions: ['commitQuorumIndex', 'applyCommitted'],
          description: 'A current-term entry held durably by a majority commits, and every entry before it (§5.4.2).',
        },
        {
          guard: 'isRemovalCommitted',
          target: 'follower',
          actions: ['sendHeartbeats', 'forgetLeader'],
          description:
            'The entry removing this leader committed (§4.2.2): tell the followers so in one last round, then step down; not a voter, it never stands again.',
        },
        {
          guard: 'hasReadWork',
          actions: 'serveReads',
          description:
            'Reads whose round a majority answered (or that hold a lease) and whose index is applied are answered; reads that came while a round was out get the next one (§6.4).',
        },
      ],
      type: 'parallel',
      states: {
        replicating: {
          description: 'The heartbeat timer: every heartbeat interval, AppendEntries (or the snapshot chunk in flight) to every follower (§5.2).',
          initial: 'beating',
          states: {
            beating: {
              description: 'Re-entered at each heartbeat; its own state, so that a heartbeat restarts no timer of the sibling regions (a transfer\'s timeout).',
              after: {
                heartbeatInterval: [
                  {
                    guard: 'hasLostQuorum',
                    target: '#raftServer.follower',
                    actions: 'forgetLeader',
                    description:
                      'CheckQuorum: no majority answered over a minimum election timeout, so this leader may be cut off; step down rather than take proposals it cannot commit.',
                  },
                  {
                    target: 'beating',
                    reenter: true,
                    actions: ['sendHeartbeats', 'countHeartbeat'],
                    description: 'Heartbeat: hold off elections and retry followers that have not answered (§5.2, §5.5).',
                  },
                ],
              },
            },
          },
        },
        snapshots: {
          description: 'Whether any follower is being sent the snapshot, one chunk in flight each (§7).',
          initial: 'idle',
          states: {
            idle: {
              description: 'Every follower is replicated by AppendEntries.',
              always: { guard: 'isAnyFollowerSentSnapshot', target: 'sendingSnapshot' },
            },
            sendingSnapshot: {
              description: 'A follower needs entries the log has compacted: it gets the snapshot, chunk by chunk, then AppendEntries after it.',
              always: { guard: not('isAnyFollowerSentSnapshot'), target: 'idle' },
            },
          },
        },
        transfer: {
          description: 'Whether leadership is being handed to another server (§3.10).',
          initial: 'idle',
          states: {
            idle: {
              description: 'Taking proposals.',
              always: { guard: 'isTransferring', target: 'transferring' },
            },
            transferring: {
              description:
                'Proposals are refused while the target catches up; once it holds the whole log it gets TimeoutNow. Its election ends this leadership; without it in an election timeout, the leader resumes.',
              always: { guard: not('isTransferring'), target: 'idle' },
              after: {
                transferTimeout: { actions: 'abortTransfer', description: 'The target did not take over: answer timedOut and take proposals again.' },
              },
            },
          },
        },
      },
      on: {
        'client.propose': [
          { guard: 'isTransferring', actions: 'rejectProposal', description: 'Handing over: refuse, naming the server about to lead.' },
          { actions: ['appendProposals', 'replicateToAll'], description: 'Append the whole batch once, then one AppendEntries per follower.' },
        ],
        'client.changeConfig': [
          {
            guard: 'hasConfigChangeProblem',
            actions: { type: 'answerConfigChange', params: { outcome: null } },
            description: 'Adding a server already in, promoting a voter, removing an unknown server or the last voter: refused, nothing changes.',
          },
          {
            guard: 'isConfigChangeUncommitted',
            actions: { type: 'answerConfigChange', params: { outcome: 'inProgress' } },
            description: 'One change at a time (§4.1): the configuration in force is not committed yet.',
          },
          {
            guard: 'isTermNoopUncommitted',
            actions: { type: 'answerConfigChange', params: { outcome: 'notReady' } },
            description:
              "No change before this term's no-op commits (Ongaro, raft-dev 2015): else a previous leader's uncommitted change could be overlooked and two overlap.",
          },
          { guard: 'isTransferring', actions: { type: 'answerConfigChange', params: { outcome: 'notLeader' } }, description: 'Handing over: no change; the answer names the server about to lead.' },
          {
            guard: 'isPromotionBehind',
            actions: { type: 'answerConfigChange', params: { outcome: 'notCaughtUp' } },
            description: 'A learner becomes a voter only once it is within a round of the leader (§4.2.1): else the cluster could wait on it to commit.',
          },
          {
            actions: ['appendConfigChange', 'replicateToAll'],
            description: 'Append the one-server change; it is in force at once, committed or not (§4.1).',
          },
        ],
        'client.read': { actions: 'acceptRead', description: 'ReadIndex (§6.4): the read waits for a round begun after it, or holds a lease, and for its index to be applied.' },
        'client.transfer': [
          { guard: 'isTransferToSelf', actions: { type: 'answerTransfer', params: { outcome: 'alreadyLeader' } } },
          { guard: 'isTransferTargetUnknown', actions: { type: 'answerTransfer', params: { outcome: 'unknownServer' } } },
          { guard: 'isTransferring', actions: { type: 'answerTransfer', params: { outcome: 'busy' } } },
          { actions: 'startTransfer', description: 'Stop taking proposals; bring the target up to date; TimeoutNow once it is (§3.10).' },
        ],
        'rpc.appendEntries.reply': [
          { guard: and(['isCurrentTerm', 'isAppendSuccess']), actions: 'recordAppendSuccess' },
          { guard: 'isCurrentTerm', actions: 'recordAppendRejection', description: 'Back up nextIndex by the hint and probe (§5.3).' },
        ],
        'rpc.installSnapshot.reply': {
          guard: 'isCurrentTerm',
          actions: 'recordSnapshotReply',
          description: 'The next chunk from the offset the follower holds, or AppendEntries after the snapshot once it is installed (§7).',
        },
        'rpc.requestVote': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'denied' } } },
          { guard: 'isCurrentTerm', actions: { type: 'reply', params: { answer: 'denied' } }, description: 'Voted for itself this term.' },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'rejected' } } },
          {
            guard: 'isCurrentTerm',
            actions: 'failOnSecondLeader',
            description: 'Another leader in our term cannot exist (Election Safety, §5.2): a bug, so the server stops loudly.',
          },
        ],
        'rpc.installSnapshot': [
          { guard: 'isStaleTerm', actions: { type: 'reply', params: { answer: 'snapshotProgress' } } },
          { guard: 'isCurrentTerm', actions: 'failOnSecondLeader', description: 'Another leader in our term cannot exist (Election Safety, §5.2).' },
        ],
      },
    },
    failed: {
      description: 'Fail-stop: the durable log gave up, so nothing may be acknowledged. Raft tolerates a stopped server.',
      on: {
        'rpc.requestVote': { description: 'Ignored: no vote without a durable log.' },
        'rpc.requestVote.reply': {},
        'rpc.appendEntries': { description: 'Ignored: no acknowledgement without a durable log.' },
        'rpc.appendEntries.reply': {},
        'rpc.installSnapshot': {},
        'rpc.installSnapshot.reply': {},
        'rpc.preVote': {},
        'rpc.preVote.reply': {},
        'rpc.timeoutNow': {},
        'client.propose': { actions: 'rejectProposal' },
        'client.read': { actions: 'refuseRead' },
        'client.transfer': { actions: { type: 'answerTransfer', params: { outcome: 'notLeader' } } },
        'client.changeConfig': { actions: { type: 'answerConfigChange', params: { outcome: 'notLeader' } } },
        'client.snapshot': { actions: 'refuseSnapshotRequest' },
      },
    },
  },
});

/** True when a reply may go out now: the durable log has synced every request made so far (rule 1). */
function isSpeechDurable(context: RaftServerContext): boolean {
  return context.synced.seq >= context.logSeq;
}

/** True when this heartbeat completes a minimum election timeout's worth since the last quorum check (CheckQuorum). */
function isQuorumCheckDue(context: RaftServerContext): boolean {
  return context.heartbeatsSinceQuorumCheck + 1 >= quorumCheckTicks(context.config);
}

/** Queues `message` until the durable log has synced every request made so far (rule 1). */
function holdUntilSynced(context: RaftServerContext, message: RaftMessage): void {
  context.outbox.hold(context.logSeq, message);
}

type Enqueue = { emit: (event: RaftServerEmitted) => void; assign: (values: Partial<RaftServerContext>) => void };

/** Sends `reply` now when everything asked of the durable log so far is synced, else once it is (rule 1). */
export function speak(context: RaftServerContext, enqueue: Pick<Enqueue, 'emit'>, reply: RaftMessage): void {
  if (isSpeechDurable(context)) enqueue.emit({ type: 'net.send', message: reply });
  else holdUntilSynced(context, reply);
}

/**
 * The highest heartbeat round a majority answered, this leader counting itself at the round under
 * way: every server counted took this one as its leader after that round began (§6.4). 0: none.
 */
export function quorumAckedRound(context: RaftServerContext): number {
  const rounds: number[] = [];
  for (const voter of context.voters) rounds.push(voter === context.id ? context.round : (context.progress[voter]?.ackedRound ?? 0));
  return quorumMatchIndex(rounds);
}

/**
 * True while this leader holds a lease (readMode 'lease', §6.4.1): a majority answered a round begun
 * at most leaseTicks heartbeats ago, so for the rest of a minimum election timeout, less the clock
 * drift, those followers ignore elections (CheckQuorum) and no other leader can be chosen. Never
 * while handing over, nor for the rest of a term in which TimeoutNow went out: a transfer election
 * is not ignored, and a late TimeoutNow can start one after the transfer timed out.
 */
export function isLeaseValid(context: RaftServerContext): boolean {
  if (context.config.readMode !== 'lease' || context.transfer !== null || context.handedOverThisTerm) return false;
  const acked = quorumAckedRound(context);
  return acked > 0 && context.round - acked <= leaseTicks(context.config);
}

/** Heartbeat rounds a leader keeps unanswered at once for reads before later reads wait to share the next. */
export const readRoundsAheadMax = 4;

/** True when some pending read can be answered, or needs a round and may start one. */
function hasReadWork(context: RaftServerContext): boolean {
  // Checked after every event a leader takes: no quorum computed while no read waits (the data path).
  if (context.pendingReads.length === 0) return false;
  const acked = quorumAckedRound(context);
  for (const read of context.pendingReads) {
    if (read.round <= acked && read.index <= context.lastApplied) return true;
    if (read.round > context.round && context.round - acked < readRoundsAheadMax) return true;
  }
  return false;
}

/** Begins the next heartbeat round: an AppendEntries (or the snapshot chunk in flight) to every follower, carrying it. */
function startRound(context: RaftServerContext, enqueue: Pick<Enqueue, 'emit' | 'assign'>): void {
  const round = context.round + 1;
  enqueue.assign({ round });
  for (const peer of context.peers) {
    const message = messageTo(context, peer, true, round);
    if (message !== null) enqueue.emit({ type: 'net.send', message });
  }
}

/** True when `peer` holds every entry of this leader's log (a transfer target may take over, §3.10). */
function isCaughtUp(context: RaftServerContext, peer: NodeId): boolean {
  return (context.progress[peer]?.matchIndex ?? 0) === context.log.lastIndex;
}

/** Sends the transfer's target TimeoutNow: it starts an election at once, and wins with the most up-to-date log (§3.10). */
function handOver(context: RaftServerContext, enqueue: Pick<Enqueue, 'emit' | 'assign'>, transfer: LeaderTransfer): void {
  enqueue.emit({ type: 'net.send', message: { type: 'rpc.timeoutNow', from: context.id, to: transfer.to, term: context.currentTerm } });
  enqueue.assign({ transfer: { ...transfer, timeoutNowSent: true }, handedOverThisTerm: true });
  enqueue.emit({ type: 'client.transferred', requestId: transfer.requestId, outcome: 'handedOver', leaderId: context.id });
}

/** A snapshot is asked of the host, or on its way to disk: one at a time. */
function isSnapshotUnderWay(context: RaftServerContext): boolean {
  return context.snapshotAsked > 0 || context.pendingSnapshot !== null;
}

/**
 * The applied index at which the next snapshot falls due (snapshotEvery past the newest snapshot,
 * or past a failed attempt), or Infinity while snapshots are off or one is under way.
 */
function snapshotDueIndex(context: RaftServerContext): number {
  if (!context.stateMachineSnapshots || context.failure !== null || context.config.snapshotEvery === 0 || isSnapshotUnderWay(context)) return Infinity;
  return Math.max(newestSnapshotIndex(context), context.snapshotRefusedAt) + context.config.snapshotEvery;
}

/** The index of the newest snapshot, durable or on its way (0: none). */
function newestSnapshotIndex(context: RaftServerContext): number {
  return context.pendingSnapshot?.snapshot.index ?? context.snapshot?.index ?? 0;
}

/** Answers every waiting client.snapshot: with `snapshot`, or as failed when null. */
function answerSnapshotWaiters(context: RaftServerContext, enqueue: Pick<Enqueue, 'emit' | 'assign'>, snapshot: Snapshot | null): void {
  if (context.snapshotWaiters.length === 0) return;
  for (const requestId of context.snapshotWaiters) {
    enqueue.emit({
      type: 'client.snapshotted',
      requestId,
      ok: snapshot !== null,
      index: snapshot?.index ?? 0,
      term: snapshot?.term ?? 0,
      reason: snapshot === null ? 'failed' : null,
    });
  }
  enqueue.assign({ snapshotWaiters: [] });
}

/**
 * True when `request` is the chunk this follower can take next: the first of a transfer, or the
 * one at the offset already gathered of the same snapshot from the same leader. Sizes are checked
 * here, so a malformed transfer is simply never taken.
 */
function isChunkExpected(context: RaftServerContext, request: InstallSnapshot): boolean {
  if (!context.stateMachineSnapshots || request.totalBytes > snapshotBytesMax) return false;
  if (request.offset + request.data.byteLength > request.totalBytes || (request.done && request.offset + request.data.byteLength !== request.totalBytes)) return false;
  if (request.offset === 0) return true;
  const incoming = context.incomingSnapshot;
  return incoming !== null && isSameTransfer(incoming, request) && incoming.received === request.offset;
}

/** True when `request`, an expected last chunk, completes a snapshot whose bytes match its checksum. */
function completesIntactSnapshot(context: RaftServerContext, request: InstallSnapshot): boolean {
  if (!request.done || !isChunkExpected(context, request)) return false;
  const chunks = request.offset === 0 ? [] : (context.incomingSnapshot as IncomingSnapshot).chunks;
  let crc = 0;
  for (const chunk of chunks) crc = crc32c(chunk, 0, chunk.byteLength, crc);
  return crc32c(request.data, 0, request.data.byteLength, crc) === request.checksum;
}

/** The snapshot an InstallSnapshot's last chunk completes: the chunks gathered so far and its own, as one. */
export function snapshotOfTransfer(context: RaftServerContext, request: InstallSnapshot): Snapshot {
  const incoming = request.offset === 0 ? null : context.incomingSnapshot;
  const data = concatenate([...(incoming?.chunks ?? []), request.data], request.totalBytes);
  return { index: request.lastIncludedIndex, term: request.lastIncludedTerm, servers: [...request.servers], data };
}

/** The chunks as one buffer of `totalBytes` (the last chunk alone is used as it is). */
function concatenate(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  if (chunks.length === 1 && chunks[0].byteLength === totalBytes) return chunks[0];
  const data = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}


export type RaftServerMachine = typeof raftServerMachine;

/** The server's top-level state: its role, or 'failed' once its durable log gave up. */
export function roleOf(snapshot: { value: unknown }): Role | 'failed' {
  const value = snapshot.value;
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as Role | 'failed';
}
