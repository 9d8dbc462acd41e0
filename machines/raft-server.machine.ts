import { and, assign, emit, enqueueActions, raise, setup } from 'xstate';
import { durableLogMachine, type DurableLogEvent, type DurableLogOptions } from './durable-log.machine.ts';
import { assert } from '../src/core/assert.ts';
import { quorumCheckTicks, resolveRaftConfig, type RaftConfig } from '../src/core/config.ts';
import { initialProgress, onAppendRejected, onAppendSuccess, planAppend, type Progress } from '../src/core/progress.ts';
import { quorumMatchIndex } from '../src/core/quorum.ts';
import { RaftLog } from '../src/core/raft-log.ts';
import { deriveRandomState, nextIntInclusive, type RandomState } from '../src/core/random.ts';
import { reconcileWithLeader, rejectionHint } from '../src/core/replication.ts';
import { isLogUpToDate, quorumSize } from '../src/core/vote.ts';
import type { AppendEntries, AppendEntriesReply, RaftMessage, RequestVote, RequestVoteReply } from '../src/protocol/messages.ts';
import type { DurablePosition } from '../src/protocol/records.ts';
import type { StorageFailure } from '../src/protocol/storage.ts';
import type { Entry, NodeId, RecoveredState, Role } from '../src/protocol/types.ts';

/**
 * One Raft server (Figure 2, §5.1–5.6) as a pure statechart: events in, effects out.
 *
 * In: the four RPC messages (their `type` is the event type), `client.propose`, and the durable
 * log's `log.synced` / `log.failed`. Out: emitted `net.send` (a message for the bus), `state.apply`
 * (committed entries, in order, once per incarnation) and `client.proposed` (the answer to a
 * proposal); requests to the invoked `durableLog` actor. No I/O, no wall clock, no Math.random:
 * time is XState delays on the actor's clock, randomness a seeded state in the context.
 *
 * Ordering rule (ARCHITECTURE.md rule 1): every reply waits in the outbox until the durable log
 * reports synced every request made before it; a leader's AppendEntries go out at once, and the
 * leader counts itself toward a commit quorum only up to what its durable log has synced.
 */

export interface RaftServerInput {
  readonly id: NodeId;
  /** Every voting member, this server included. */
  readonly servers: readonly NodeId[];
  readonly config?: Partial<RaftConfig>;
  /** Seeds this server's random election timeouts; one seed replays a run exactly. */
  readonly randomSeed: number;
  /** What the durable log recovered; omit for a fresh server. */
  readonly recovered?: RecoveredState;
  /** Retry settings for the invoked durable log (its defaults when omitted). */
  readonly durableLog?: DurableLogOptions;
}

export type ClientProposeEvent = { type: 'client.propose'; requestId: number; commands: readonly Uint8Array[] };

export type RaftServerEvent =
  | RaftMessage
  | ClientProposeEvent
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

export type RaftServerEmitted =
  | { type: 'net.send'; message: RaftMessage }
  | { type: 'state.apply'; entries: readonly Entry[] }
  | ProposalAnswer;

/** A message waiting for the durable log before it may be sent (rule 1). */
interface OutboxItem {
  readonly requiredSeq: number;
  readonly message: RaftMessage;
}

export interface RaftServerContext {
  readonly id: NodeId;
  readonly servers: readonly NodeId[];
  readonly peers: readonly NodeId[];
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
  /** Changed in place: replies waiting for `synced.seq` to reach their requiredSeq. */
  readonly outbox: OutboxItem[];
  votesGranted: NodeId[];
  /** Candidate only: peers that answered this term's RequestVote, granted or not. */
  votesAnswered: NodeId[];
  /** Leader only: one entry per peer, changed in place. */
  progress: Record<NodeId, Progress>;
  /** Leader only: heartbeats since its last quorum check (CheckQuorum). */
  heartbeatsSinceQuorumCheck: number;
  failure: StorageFailure | null;
  readonly durableLogOptions: DurableLogOptions;
}


function termOf(event: RaftServerEvent): number {
  return 'term' in event ? event.term : -1;
}

/** The reply to a RequestVote; granted only by the named actions that first persist the vote. */
export function voteReply(context: RaftServerContext, request: RequestVote, voteGranted: boolean): RequestVoteReply {
  return { type: 'rpc.requestVote.reply', from: context.id, to: request.from, term: context.currentTerm, voteGranted };
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
  };
}

/** The leader's own synced match: what its durable log holds that agrees with its log (rule 1). */
export function ownSyncedMatch(context: RaftServerContext): number {
  const { lastIndex, lastTerm } = context.synced;
  return context.log.matches(lastIndex, lastTerm) ? lastIndex : 0;
}

/** The highest index a majority holds durably, the leader's own synced copy included. */
export function quorumIndexOf(context: RaftServerContext): number {
  const matches = [ownSyncedMatch(context)];
  for (const peer of context.peers) matches.push(context.progress[peer]?.matchIndex ?? 0);
  return quorumMatchIndex(matches);
}

/** Builds an AppendEntries from a plan, addressed to `peer`. */
function appendEntriesTo(context: RaftServerContext, peer: NodeId, heartbeat: boolean): AppendEntries | null {
  const progress = context.progress[peer];
  if (progress === undefined) assert(false, `no progress for ${peer}`);
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
  },
  guards: {
    hasHigherTerm: ({ context, event }) => termOf(event) > context.currentTerm,
    isCurrentTerm: ({ context, event }) => termOf(event) === context.currentTerm,
    isStaleTerm: ({ context, event }) => termOf(event) >= 0 && termOf(event) < context.currentTerm,
    hasVotedForCandidate: ({ context, event }) => context.votedFor !== null && context.votedFor === (event as RequestVote).from,
    hasNotVotedForAnother: ({ context, event }) =>
      context.votedFor === null || context.votedFor === (event as RequestVote).from,
    isCandidateLogUpToDate: ({ context, event }) => {
      const request = event as RequestVote;
      return isLogUpToDate(request.lastLogTerm, request.lastLogIndex, context.log.lastTerm, context.log.lastIndex);
    },
    prevLogMatches: ({ context, event }) => {
      const request = event as AppendEntries;
      return context.log.matches(request.prevLogIndex, request.prevLogTerm);
    },
    isVoteGranted: ({ event }) => (event as RequestVoteReply).voteGranted,
    isAppendSuccess: ({ event }) => (event as AppendEntriesReply).success,
    isLogSynced: ({ context }) => context.synced.seq >= context.logSeq,
    hasVoteQuorum: ({ context }) => context.votesGranted.length >= quorumSize(context.servers.length),
    hasLostQuorum: ({ context }) => {
      if (!context.config.checkQuorum || !isQuorumCheckDue(context)) return false;
      let heard = 1; // itself
      for (const peer of context.peers) if (context.progress[peer]?.recentActive === true) heard++;
      return heard < quorumSize(context.servers.length);
    },
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
      let sent = 0;
      for (const item of context.outbox) {
        if (item.requiredSeq > event.position.seq) break;
        enqueue.emit({ type: 'net.send', message: item.message });
        sent++;
      }
      if (sent > 0) context.outbox.splice(0, sent);
    }),
    recordFailure: assign(({ event }) => ({ failure: event.type === 'log.failed' ? event.failure : null })),
    recordLeader: assign(({ event }) => ({ leaderId: (event as AppendEntries).from })),
    recordVote: assign(({ event }) => ({ votedFor: (event as RequestVote).from })),
    replyVoteGranted: enqueueActions(({ context, event, enqueue }) => {
      const reply = voteReply(context, event as RequestVote, true);
      if (isSpeechDurable(context)) enqueue.emit({ type: 'net.send', message: reply });
      else holdUntilSynced(context, reply);
    }),
    replyVoteDenied: enqueueActions(({ context, event, enqueue }) => {
      const reply = voteReply(context, event as RequestVote, false);
      if (isSpeechDurable(context)) enqueue.emit({ type: 'net.send', message: reply });
      else holdUntilSynced(context, reply);
    }),
    replyAppendSuccess: enqueueActions(({ context, event, enqueue }) => {
      const reply = appendReply(context, event as AppendEntries, true);
      if (isSpeechDurable(context)) enqueue.emit({ type: 'net.send', message: reply });
      else holdUntilSynced(context, reply);
    }),
    replyAppendRejected: enqueueActions(({ context, event, enqueue }) => {
      const reply = appendReply(context, event as AppendEntries, false);
      if (isSpeechDurable(context)) enqueue.emit({ type: 'net.send', message: reply });
      else holdUntilSynced(context, reply);
    }),
    appendNewEntries: enqueueActions(({ context, event, enqueue }) => {
      const request = event as AppendEntries;
      const change = reconcileWithLeader(context.log, request.prevLogIndex, request.entries, context.commitIndex);
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
      const request = event as AppendEntries;
      // Figure 2: commitIndex = min(leaderCommit, index of last new entry); never backwards.
      const lastNew = request.prevLogIndex + request.entries.length;
      return { commitIndex: Math.max(context.commitIndex, Math.min(request.leaderCommit, lastNew)) };
    }),
    applyCommitted: enqueueActions(({ context, enqueue }) => {
      if (context.commitIndex <= context.lastApplied) return;
      enqueue.emit({ type: 'state.apply', entries: context.log.slice(context.lastApplied + 1, context.commitIndex + 1) });
      enqueue.assign({ lastApplied: context.commitIndex });
    }),
    startElection: assign(({ context }) => ({
      currentTerm: context.currentTerm + 1,
      votedFor: context.id,
      leaderId: null,
      votesGranted: [],
      votesAnswered: [],
    })),
    countOwnVote: assign(({ context }) => (context.votesGranted.includes(context.id) ? {} : { votesGranted: [...context.votesGranted, context.id] })),
    countVote: assign(({ context, event }) => {
      const voter = (event as RequestVoteReply).from;
      if (context.votesGranted.includes(voter)) return {};
      return { votesGranted: [...context.votesGranted, voter], votesAnswered: [...context.votesAnswered, voter] };
    }),
    recordVoteDenied: assign(({ context, event }) => {
      const voter = (event as RequestVoteReply).from;
      return context.votesAnswered.includes(voter) ? {} : { votesAnswered: [...context.votesAnswered, voter] };
    }),
    requestVotes: enqueueActions(({ context, enqueue }) => {
      for (const peer of context.peers) {
        if (context.votesAnswered.includes(peer)) continue;
        const request: RequestVote = {
          type: 'rpc.requestVote',
          from: context.id,
          to: peer,
          term: context.currentTerm,
          lastLogIndex: context.log.lastIndex,
          lastLogTerm: context.log.lastTerm,
        };
        enqueue.emit({ type: 'net.send', message: request });
      }
    }),
    becomeLeader: assign(({ context }) => {
      const progress: Record<NodeId, Progress> = {};
      for (const peer of context.peers) progress[peer] = initialProgress(context.log.lastIndex);
      return { leaderId: context.id, progress, heartbeatsSinceQuorumCheck: 0 };
    }),
    countHeartbeat: assign(({ context }) => {
      if (!isQuorumCheckDue(context)) return { heartbeatsSinceQuorumCheck: context.heartbeatsSinceQuorumCheck + 1 };
      // A check passed (hasLostQuorum said no): the next one counts only answers from now on.
      for (const peer of context.peers) {
        const progress = context.progress[peer];
        if (progress !== undefined) progress.recentActive = false;
      }
      return { heartbeatsSinceQuorumCheck: 0 };
    }),
    forgetLeader: assign({ leaderId: null }),
    appendNoop: enqueueActions(({ context, enqueue }) => {
      const entry: Entry = { index: context.log.lastIndex + 1, term: context.currentTerm, kind: 'noop', command: new Uint8Array(0) };
      context.log.append([entry]);
      const seq = context.logSeq + 1;
      enqueue.sendTo('durableLog', durableLogRequest({ type: 'log.append', seq, entries: [entry] }));
      enqueue.assign({ logSeq: seq });
    }),
    appendProposals: enqueueActions(({ context, event, enqueue }) => {
      const { requestId, commands } = event as ClientProposeEvent;
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
      requestId: (event as ClientProposeEvent).requestId,
      isLeader: false,
      leaderId: context.leaderId,
      term: context.currentTerm,
      index: 0,
      count: 0,
    })),
    replicateToAll: enqueueActions(({ context, enqueue }) => {
      for (const peer of context.peers) {
        const message = appendEntriesTo(context, peer, false);
        if (message !== null) enqueue.emit({ type: 'net.send', message });
      }
    }),
    sendHeartbeats: enqueueActions(({ context, enqueue }) => {
      for (const peer of context.peers) {
        const message = appendEntriesTo(context, peer, true);
        if (message !== null) enqueue.emit({ type: 'net.send', message });
      }
    }),
    recordAppendSuccess: enqueueActions(({ context, event, enqueue }) => {
      const reply = event as AppendEntriesReply;
      const progress = context.progress[reply.from];
      if (progress === undefined) return;
      progress.recentActive = true;
      onAppendSuccess(progress, Math.min(reply.matchIndex, context.log.lastIndex));
      const message = appendEntriesTo(context, reply.from, false);
      if (message !== null) enqueue.emit({ type: 'net.send', message });
    }),
    recordAppendRejection: enqueueActions(({ context, event, enqueue }) => {
      const reply = event as AppendEntriesReply;
      const progress = context.progress[reply.from];
      if (progress === undefined) return;
      progress.recentActive = true;
      if (!onAppendRejected(progress, context.log, reply.prevLogIndex, reply.conflictTerm, reply.conflictIndex)) return;
      const message = appendEntriesTo(context, reply.from, false);
      if (message !== null) enqueue.emit({ type: 'net.send', message });
    }),
    commitQuorumIndex: assign(({ context }) => ({ commitIndex: quorumIndexOf(context) })),
  },
}).createMachine({
  id: 'raftServer',
  description: 'A Raft server (Ongaro & Ousterhout, Figure 2). Roles per §5.1; every reply waits for the durable log (§5.5, rule 1).',
  context: ({ input }) => {
    const config = resolveRaftConfig(input.config);
    assert(input.servers.includes(input.id), `${input.id} is not among the servers`);
    const hardState = input.recovered?.hardState ?? { term: 0, votedFor: null };
    const log = new RaftLog(input.recovered?.entries ?? []);
    return {
      id: input.id,
      servers: [...input.servers],
      peers: input.servers.filter((server) => server !== input.id),
      config,
      random: deriveRandomState(input.randomSeed, `raft-server/${input.id}`),
      electionTimeoutMs: config.electionTimeoutMsMax,
      currentTerm: hardState.term,
      votedFor: hardState.votedFor,
      log,
      commitIndex: 0,
      lastApplied: 0,
      leaderId: null,
      logSeq: 0,
      synced: { seq: 0, lastIndex: log.lastIndex, lastTerm: log.lastTerm, hardState },
      outbox: [],
      votesGranted: [],
      votesAnswered: [],
      progress: {},
      heartbeatsSinceQuorumCheck: 0,
      failure: null,
      durableLogOptions: input.durableLog ?? {},
    };
  },
  invoke: {
    id: 'durableLog',
    src: 'durableLog',
    input: ({ context }) => ({
      ...context.durableLogOptions,
      position: { lastIndex: context.log.lastIndex, lastTerm: context.log.lastTerm, hardState: context.synced.hardState },
    }),
  },
  initial: 'follower',
  on: {
    'rpc.requestVote': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.requestVote.reply': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.appendEntries': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'rpc.appendEntries.reply': { guard: 'hasHigherTerm', target: '.follower', actions: ['adoptTerm', 'persistHardState', 'reraise'] },
    'log.synced': { actions: 'recordSynced' },
    'log.failed': { target: '.failed', actions: 'recordFailure' },
  },
  states: {
    follower: {
      description: 'Passive: answers RPCs (§5.1). Starts an election when no valid leader is heard for a random timeout (§5.2).',
      entry: 'drawElectionTimeout',
      after: {
        electionTimeout: { target: 'candidate', description: 'No leader heard: start an election (§5.2).' },
      },
      on: {
        'rpc.requestVote': [
          { guard: 'isStaleTerm', actions: 'replyVoteDenied', description: 'Stale term: refuse, carrying our term (§5.1).' },
          {
            guard: and(['isCurrentTerm', 'hasVotedForCandidate']),
            target: 'follower',
            reenter: true,
            actions: 'replyVoteGranted',
            description: 'The same candidate asking again gets the same answer and causes no new write (§5.5, idempotence).',
          },
          {
            guard: and(['isCurrentTerm', 'hasNotVotedForAnother', 'isCandidateLogUpToDate']),
            target: 'follower',
            reenter: true,
            actions: ['recordVote', 'persistHardState', 'replyVoteGranted'],
            description: 'One vote per term, first come (§5.2), only for an up-to-date log (§5.4.1); granted after the vote is synced.',
          },
          { guard: 'isCurrentTerm', actions: 'replyVoteDenied' },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: 'replyAppendRejected', description: 'Stale leader: refuse, carrying our term (§5.1).' },
          {
            guard: and(['isCurrentTerm', 'prevLogMatches']),
            target: 'follower',
            reenter: true,
            actions: ['recordLeader', 'appendNewEntries', 'advanceCommitFromLeader', 'applyCommitted', 'replyAppendSuccess'],
            description: 'Consistency check passed (§5.3): delete only a conflicting suffix, append, learn the commit index; reply once synced.',
          },
          {
            guard: 'isCurrentTerm',
            target: 'follower',
            reenter: true,
            actions: ['recordLeader', 'replyAppendRejected'],
            description: 'Consistency check failed (§5.3): refuse with a hint so the leader backs up a term at a time.',
          },
        ],
        'client.propose': { actions: 'rejectProposal', description: 'Not the leader: answer with the leader we know.' },
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
          { guard: 'isStaleTerm', actions: 'replyVoteDenied' },
          { guard: 'isCurrentTerm', actions: 'replyVoteDenied', description: 'Already voted for itself this term.' },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: 'replyAppendRejected' },
          {
            guard: 'isCurrentTerm',
            target: 'follower',
            actions: 'reraise',
            description: 'A leader of this term exists: step down and let the follower handle it (§5.2).',
          },
        ],
        'client.propose': { actions: 'rejectProposal' },
      },
    },
    leader: {
      description: 'Replicates its log (§5.3); commits by counting replicas only in its own term (§5.4.2).',
      entry: ['becomeLeader', 'appendNoop', 'sendHeartbeats'],
      always: {
        guard: 'canCommitQuorumIndex',
        actions: ['commitQuorumIndex', 'applyCommitted'],
        description: 'A current-term entry held durably by a majority commits, and every entry before it (§5.4.2).',
      },
      initial: 'replicating',
      states: {
        replicating: {
          description: 'The heartbeat timer: every heartbeat interval, AppendEntries to every follower (§5.2).',
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
                target: 'replicating',
                reenter: true,
                actions: ['sendHeartbeats', 'countHeartbeat'],
                description: 'Heartbeat: hold off elections and retry followers that have not answered (§5.2, §5.5).',
              },
            ],
          },
        },
      },
      on: {
        'client.propose': { actions: ['appendProposals', 'replicateToAll'], description: 'Append the whole batch once, then one AppendEntries per follower.' },
        'rpc.appendEntries.reply': [
          { guard: and(['isCurrentTerm', 'isAppendSuccess']), actions: 'recordAppendSuccess' },
          { guard: 'isCurrentTerm', actions: 'recordAppendRejection', description: 'Back up nextIndex by the hint and probe (§5.3).' },
        ],
        'rpc.requestVote': [
          { guard: 'isStaleTerm', actions: 'replyVoteDenied' },
          { guard: 'isCurrentTerm', actions: 'replyVoteDenied', description: 'Voted for itself this term.' },
        ],
        'rpc.appendEntries': [
          { guard: 'isStaleTerm', actions: 'replyAppendRejected' },
          {
            guard: 'isCurrentTerm',
            description: 'Another leader in our term cannot exist (Election Safety); ignored, and the simulator reports it.',
          },
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
        'client.propose': { actions: 'rejectProposal' },
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
  context.outbox.push({ requiredSeq: context.logSeq, message });
}


export type RaftServerMachine = typeof raftServerMachine;

/** The server's top-level state: its role, or 'failed' once its durable log gave up. */
export function roleOf(snapshot: { value: unknown }): Role | 'failed' {
  const value = snapshot.value;
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as Role | 'failed';
}
