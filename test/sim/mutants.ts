import { assign, enqueueActions } from 'xstate';
import {
  raftServerMachine,
  replyTo,
  snapshotOfTransfer,
  speak,
  type RaftServerContext,
  type RaftServerEvent,
  type ReplyAnswer,
} from '../../machines/raft-server.machine.ts';
import { ownSyncedMatch, quorumIndexOf } from '../../machines/raft-server.machine.ts';
import { quorumSize } from '../../src/core/vote.ts';
import type { AppendEntries, InstallSnapshot, PreVote } from '../../src/protocol/messages.ts';
import { SessionStateMachine, splitSessionSnapshot } from '../../src/host/sessions.ts';

/**
 * The bugs the paper warns about, each re-introduced by overriding ONE named guard or action of
 * the unmodified chart with `provide` (no bug switches in production code).
 */
export const mutants = {
  /** 1. Votes granted without the election restriction (§5.4.1). */
  noElectionRestriction: raftServerMachine.provide({
    guards: { isCandidateLogUpToDate: () => true },
  }),

  /** 2. A leader commits an earlier-term entry by counting replicas (§5.4.2, Figure 8). */
  commitsEarlierTermByCounting: raftServerMachine.provide({
    guards: { canCommitQuorumIndex: ({ context }) => quorumIndexOf(context) > context.commitIndex },
  }),

  /** 3. Replies to RequestVote and AppendEntries before the vote or entries are synced (§5.5). */
  repliesBeforeSync: raftServerMachine.provide({
    actions: {
      reply: enqueueActions(({ context, event, enqueue }, params: { answer: ReplyAnswer }) => {
        const reply = replyTo(context as RaftServerContext, event as RaftServerEvent, params.answer);
        if (params.answer === 'granted' || params.answer === 'success') enqueue.emit({ type: 'net.send', message: reply });
        else speak(context as RaftServerContext, enqueue, reply);
      }),
    },
  }),

  /** 4. A follower truncates at prevLogIndex even when the entries after it match (late or duplicated AppendEntries). */
  truncatesMatchingSuffix: raftServerMachine.provide({
    actions: {
      appendNewEntries: enqueueActions(({ context, event, enqueue }) => {
        const request = event as AppendEntries;
        const log = (context as RaftServerContext).log;
        let seq = context.logSeq;
        if (request.prevLogIndex < log.lastIndex) {
          const fromIndex = request.prevLogIndex + 1;
          log.truncateFrom(fromIndex);
          seq++;
          enqueue.sendTo('durableLog', { type: 'log.truncate', seq, fromIndex, prevTerm: request.prevLogTerm });
        }
        if (request.entries.length > 0) {
          log.append(request.entries);
          seq++;
          enqueue.sendTo('durableLog', { type: 'log.append', seq, entries: request.entries });
        }
        enqueue.assign({ logSeq: seq });
      }),
    },
  }),

  /** 5. A server forgets its term and vote across a restart: the hard state is never written. */
  forgetsHardState: raftServerMachine.provide({
    actions: { persistHardState: () => {} },
  }),

  /** 6. A follower that installs a snapshot discards its whole log, even the suffix that follows a matching entry (Figure 13, step 6). */
  discardsMatchingSuffixOnInstall: raftServerMachine.provide({
    actions: {
      installSnapshot: enqueueActions(({ context, event, enqueue }) => {
        const snapshot = snapshotOfTransfer(context, event as InstallSnapshot);
        context.log.resetTo(snapshot.index, snapshot.term);
        const seq = context.logSeq + 1;
        enqueue.sendTo('durableLog', { type: 'log.snapshot', seq, snapshot, entries: [] });
        enqueue.emit({ type: 'state.restore', snapshot });
        enqueue.assign({
          logSeq: seq,
          commitIndex: Math.max(context.commitIndex, snapshot.index),
          lastApplied: snapshot.index,
          pendingSnapshot: { seq, snapshot },
          snapshotAsked: 0,
          incomingSnapshot: null,
        });
      }),
    },
  }),

  /** 7. A server compacts its log past its applied index once a snapshot is durable: entries it has not applied are gone. */
  compactsPastApplied: raftServerMachine.provide({
    actions: {
      completeSnapshot: enqueueActions(({ context, enqueue }) => {
        const snapshot = context.pendingSnapshot?.snapshot;
        if (snapshot === undefined) return;
        context.log.compactThrough(context.log.lastIndex);
        enqueue.assign({ snapshot, pendingSnapshot: null });
      }),
    },
  }),

  /** 8. A leader answers a ReadIndex read without confirming it still leads: no heartbeat round waited for (§6.4). */
  readsWithoutConfirming: raftServerMachine.provide({
    actions: {
      acceptRead: assign(({ context, event }) => {
        const { requestId } = event as { requestId: number };
        return { pendingReads: [...context.pendingReads, { requestId, index: Math.max(context.commitIndex, context.termStartIndex), round: 0 }] };
      }),
    },
  }),

  /** 9. Lease reads without CheckQuorum's vote ignoring: followers vote while the leader still holds its lease (§6.4.1, §4.2.3). */
  leaseWithoutCheckQuorum: raftServerMachine.provide({
    guards: { isVoteIgnoredInLease: () => false },
  }),

  /** 10. A voter that answers a pre-vote takes its term, as if it were a RequestVote (§9.6 says nothing changes). */
  preVoteChangesTerm: raftServerMachine.provide({
    actions: {
      reply: enqueueActions(({ context, event, enqueue }, params: { answer: ReplyAnswer }) => {
        const ctx = context as RaftServerContext;
        if ((params.answer === 'preVoteGranted' || params.answer === 'preVoteDenied') && (event as PreVote).term > ctx.currentTerm) {
          enqueue.assign({ currentTerm: (event as PreVote).term, votedFor: null, leaderId: null });
        }
        speak(ctx, enqueue, replyTo(ctx, event as RaftServerEvent, params.answer));
      }),
    },
  }),

  /** 12. Two membership changes at once: a leader appends a change while the last one is uncommitted (§4.1). */
  twoChangesAtOnce: raftServerMachine.provide({
    guards: { isConfigChangeUncommitted: () => false },
  }),

  /** 13. A learner counted toward the commit quorum, as if it voted (§4.2.1): the old loop over every peer. */
  learnerCountedInQuorum: raftServerMachine.provide({
    guards: {
      canCommitQuorumIndex: ({ context }) => {
        const index = quorumIndexCountingLearners(context);
        return index > context.commitIndex && context.log.termAt(index) === context.currentTerm;
      },
    },
    actions: { commitQuorumIndex: assign(({ context }) => ({ commitIndex: quorumIndexCountingLearners(context) })) },
  }),

  /** 14. A new leader changes the configuration before its term's no-op commits (the bug of Ongaro's 2015 raft-dev note). */
  changesBeforeNoopCommits: raftServerMachine.provide({
    guards: { isTermNoopUncommitted: () => false },
  }),
};

/** The commit quorum over every peer, learners included, sized by the voters: mutant 13's bug. */
function quorumIndexCountingLearners(context: RaftServerContext): number {
  const matches = [ownSyncedMatch(context), ...context.peers.map((peer) => context.progress[peer]?.matchIndex ?? 0)].sort((a, b) => b - a);
  return matches[quorumSize(context.voters.length) - 1] ?? 0;
}

export type MutantName = keyof typeof mutants;

/** Mutants of the state-machine layer (not the chart): a subclass of the session table overriding one method. */
export const sessionMutants = {
  /** 11. A restored server forgets its session table (§6.3): a retry of a command applied before the snapshot is applied again. */
  forgetsSessionsOnRestore: class extends SessionStateMachine {
    override restore(bytes: Uint8Array): void {
      super.restore?.(splitSessionSnapshot(bytes).user);
    }
  },
};
