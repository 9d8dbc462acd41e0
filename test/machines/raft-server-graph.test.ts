import { describe, expect, it } from 'vitest';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { machineGraph } from '../../src/inspect/machine-graph.ts';
import { directedGraphView, edgeLines, walkerView } from './chart-edges.ts';

const graph = machineGraph(raftServerMachine);
const edges = graph.transitions;
const rpcEvents = ['rpc.requestVote', 'rpc.requestVote.reply', 'rpc.appendEntries', 'rpc.appendEntries.reply', 'rpc.installSnapshot', 'rpc.installSnapshot.reply'];

describe('raft-server chart as a graph (§5.1, Figure 4)', () => {
  it('has the roles of Figure 4 and the transitions between them', () => {
    // follower → candidate: times out, starts election.
    expect(edges).toContainEqual(expect.objectContaining({ source: 'follower', kind: 'after', label: 'after electionTimeout', targets: ['candidate'] }));
    // candidate → candidate: times out, new election (entered again, so a new term and a new timeout).
    expect(edges).toContainEqual(
      expect.objectContaining({ source: 'candidate', label: 'after electionTimeout', targets: ['candidate'], guard: null, reenter: true }),
    );
    // candidate → leader: receives votes from a majority of servers.
    expect(edges).toContainEqual(
      expect.objectContaining({ source: 'candidate.requestingVotes', kind: 'always', targets: ['leader'], guard: 'hasVoteQuorum' }),
    );
    // candidate → follower: discovers the current leader.
    expect(edges).toContainEqual(
      expect.objectContaining({ source: 'candidate', event: 'rpc.appendEntries', targets: ['follower'], guard: 'isCurrentTerm' }),
    );
    // leader (and candidate) → follower: discovers a server with a higher term, on any of the six messages.
    for (const event of rpcEvents) {
      expect(edges).toContainEqual(expect.objectContaining({ source: '', event, targets: ['follower'], guard: 'hasHigherTerm' }));
    }
    // The root transition is reached only if no role handles a higher term itself: every RPC
    // transition of follower, candidate and leader is guarded.
    const roleRpcEdges = edges.filter((edge) => /^(follower|candidate|leader)/.test(edge.source) && rpcEvents.includes(edge.event));
    expect(roleRpcEdges.filter((edge) => edge.guard === null)).toEqual([]);
    // A storage failure stops the server.
    expect(edges).toContainEqual(expect.objectContaining({ source: '', event: 'log.failed', targets: ['failed'] }));
    // Reference: section 5.1
  });

  it('has exactly these states', () => {
    expect(graph.states.map((state) => `${state.path || '(machine)'}: ${state.type}${state.initial === null ? '' : ` → ${state.initial}`}`)).toEqual([
      '(machine): compound → follower',
      'follower: compound → follower.listening',
      'follower.listening: atomic',
      'follower.receivingSnapshot: atomic',
      'preCandidate: compound → preCandidate.awaitingPreVotes',
      'preCandidate.awaitingPreVotes: atomic',
      'candidate: compound → candidate.persistingVote',
      'candidate.persistingVote: atomic',
      'candidate.requestingVotes: compound → candidate.requestingVotes.awaitingVotes',
      'candidate.requestingVotes.awaitingVotes: atomic',
      'leader: parallel',
      'leader.replicating: compound → leader.replicating.beating',
      'leader.replicating.beating: atomic',
      'leader.snapshots: compound → leader.snapshots.idle',
      'leader.snapshots.idle: atomic',
      'leader.snapshots.sendingSnapshot: atomic',
      'leader.transfer: compound → leader.transfer.idle',
      'leader.transfer.idle: atomic',
      'leader.transfer.transferring: atomic',
      'failed: atomic',
    ]);
  });

  it('has exactly these transitions, delayed, eventless and targetless ones included', () => {
    expect(edgeLines(raftServerMachine)).toEqual([
      '(machine) --rpc.requestVote [isVoteIgnoredInLease]--> (stays)',
      '(machine) --rpc.requestVote [hasHigherTerm]--> follower',
      '(machine) --rpc.preVote [canGrantPreVote]--> (stays)',
      '(machine) --rpc.preVote--> (stays)',
      '(machine) --rpc.preVote.reply [and(hasHigherTerm, not(isPreVoteReplyGranted))]--> follower',
      '(machine) --rpc.timeoutNow [hasHigherTerm]--> follower',
      '(machine) --rpc.requestVote.reply [hasHigherTerm]--> follower',
      '(machine) --rpc.appendEntries [hasHigherTerm]--> follower',
      '(machine) --rpc.appendEntries.reply [hasHigherTerm]--> follower',
      '(machine) --rpc.installSnapshot [hasHigherTerm]--> follower',
      '(machine) --rpc.installSnapshot.reply [hasHigherTerm]--> follower',
      '(machine) --log.synced [completesPendingSnapshot]--> (stays)',
      '(machine) --log.synced--> (stays)',
      '(machine) --log.failed--> failed',
      '(machine) --client.snapshot [not(canSnapshot)]--> (stays)',
      '(machine) --client.snapshot [isSnapshotUnderWay]--> (stays)',
      '(machine) --client.snapshot [hasAppliedPastSnapshot]--> (stays)',
      '(machine) --client.snapshot--> (stays)',
      '(machine) --state.snapshotted [isSnapshotAwaited]--> (stays)',
      '(machine) --state.snapshotFailed [isSnapshotAwaited]--> (stays)',
      '(machine) --always [isSnapshotDue]--> (stays)',
      'follower --rpc.requestVote [isStaleTerm]--> (stays)',
      'follower --rpc.requestVote [and(isCurrentTerm, hasVotedForCandidate)]--> follower (reenter)',
      'follower --rpc.requestVote [and(isCurrentTerm, hasNotVotedForAnother, isCandidateLogUpToDate)]--> follower (reenter)',
      'follower --rpc.requestVote [isCurrentTerm]--> (stays)',
      'follower --rpc.appendEntries [isStaleTerm]--> (stays)',
      'follower --rpc.appendEntries [and(isCurrentTerm, prevLogMatches)]--> follower (reenter)',
      'follower --rpc.appendEntries [isCurrentTerm]--> follower (reenter)',
      'follower --rpc.installSnapshot [isStaleTerm]--> (stays)',
      'follower --rpc.installSnapshot [and(isCurrentTerm, isSnapshotCovered)]--> follower.listening (reenter)',
      'follower --rpc.installSnapshot [and(isCurrentTerm, isSnapshotChunkExpected, completesIntactSnapshot)]--> follower.listening (reenter)',
      'follower --rpc.installSnapshot [and(isCurrentTerm, isSnapshotChunkExpected, not(isLastSnapshotChunk))]--> follower.receivingSnapshot (reenter)',
      'follower --rpc.installSnapshot [and(isCurrentTerm, isSnapshotChunkExpected)]--> follower.listening (reenter)',
      'follower --rpc.installSnapshot [isCurrentTerm]--> follower.receivingSnapshot (reenter)',
      'follower --rpc.timeoutNow [and(isCurrentTerm, isVoter)]--> candidate',
      'follower --client.propose--> (stays)',
      'follower --client.read--> (stays)',
      'follower --client.transfer--> (stays)',
      'follower --client.changeConfig--> (stays)',
      'follower --after leaderContactWindow--> (stays)',
      'follower --after electionTimeout [not(isVoter)]--> (stays)',
      'follower --after electionTimeout [usesPreVote]--> preCandidate',
      'follower --after electionTimeout--> candidate',
      'preCandidate --rpc.preVote.reply [isPreVoteForThisRound]--> (stays)',
      'preCandidate --rpc.preVote.reply [and(not(isPreVoteReplyGranted), not(hasHigherTerm))]--> (stays)',
      'preCandidate --rpc.requestVote [isStaleTerm]--> (stays)',
      'preCandidate --rpc.requestVote [isCurrentTerm]--> follower',
      'preCandidate --rpc.appendEntries [isStaleTerm]--> (stays)',
      'preCandidate --rpc.appendEntries [isCurrentTerm]--> follower',
      'preCandidate --rpc.installSnapshot [isStaleTerm]--> (stays)',
      'preCandidate --rpc.installSnapshot [isCurrentTerm]--> follower',
      'preCandidate --rpc.timeoutNow [isCurrentTerm]--> candidate',
      'preCandidate --client.propose--> (stays)',
      'preCandidate --client.read--> (stays)',
      'preCandidate --client.transfer--> (stays)',
      'preCandidate --client.changeConfig--> (stays)',
      'preCandidate --after electionTimeout--> preCandidate (reenter)',
      'preCandidate --always [hasVoteQuorum]--> candidate',
      'preCandidate.awaitingPreVotes --after heartbeatInterval--> preCandidate.awaitingPreVotes (reenter)',
      'candidate --rpc.requestVote [isStaleTerm]--> (stays)',
      'candidate --rpc.requestVote [isCurrentTerm]--> (stays)',
      'candidate --rpc.appendEntries [isStaleTerm]--> (stays)',
      'candidate --rpc.appendEntries [isCurrentTerm]--> follower',
      'candidate --rpc.installSnapshot [isStaleTerm]--> (stays)',
      'candidate --rpc.installSnapshot [isCurrentTerm]--> follower',
      'candidate --client.propose--> (stays)',
      'candidate --client.read--> (stays)',
      'candidate --client.transfer--> (stays)',
      'candidate --client.changeConfig--> (stays)',
      'candidate --after electionTimeout--> candidate (reenter)',
      'candidate.persistingVote --always [isLogSynced]--> candidate.requestingVotes',
      'candidate.requestingVotes --rpc.requestVote.reply [and(isCurrentTerm, isVoteGranted)]--> (stays)',
      'candidate.requestingVotes --rpc.requestVote.reply [isCurrentTerm]--> (stays)',
      'candidate.requestingVotes --always [hasVoteQuorum]--> leader',
      'candidate.requestingVotes.awaitingVotes --after heartbeatInterval--> candidate.requestingVotes.awaitingVotes (reenter)',
      'leader --client.propose [isTransferring]--> (stays)',
      'leader --client.propose--> (stays)',
      'leader --client.changeConfig [hasConfigChangeProblem]--> (stays)',
      'leader --client.changeConfig [isConfigChangeUncommitted]--> (stays)',
      'leader --client.changeConfig [isTermNoopUncommitted]--> (stays)',
      'leader --client.changeConfig [isTransferring]--> (stays)',
      'leader --client.changeConfig [isPromotionBehind]--> (stays)',
      'leader --client.changeConfig--> (stays)',
      'leader --client.read--> (stays)',
      'leader --client.transfer [isTransferToSelf]--> (stays)',
      'leader --client.transfer [isTransferTargetUnknown]--> (stays)',
      'leader --client.transfer [isTransferring]--> (stays)',
      'leader --client.transfer--> (stays)',
      'leader --rpc.appendEntries.reply [and(isCurrentTerm, isAppendSuccess)]--> (stays)',
      'leader --rpc.appendEntries.reply [isCurrentTerm]--> (stays)',
      'leader --rpc.installSnapshot.reply [isCurrentTerm]--> (stays)',
      'leader --rpc.requestVote [isStaleTerm]--> (stays)',
      'leader --rpc.requestVote [isCurrentTerm]--> (stays)',
      'leader --rpc.appendEntries [isStaleTerm]--> (stays)',
      'leader --rpc.appendEntries [isCurrentTerm]--> (stays)',
      'leader --rpc.installSnapshot [isStaleTerm]--> (stays)',
      'leader --rpc.installSnapshot [isCurrentTerm]--> (stays)',
      'leader --always [canCommitQuorumIndex]--> (stays)',
      'leader --always [isRemovalCommitted]--> follower',
      'leader --always [hasReadWork]--> (stays)',
      'leader.replicating.beating --after heartbeatInterval [hasLostQuorum]--> follower',
      'leader.replicating.beating --after heartbeatInterval--> leader.replicating.beating (reenter)',
      'leader.snapshots.idle --always [isAnyFollowerSentSnapshot]--> leader.snapshots.sendingSnapshot',
      'leader.snapshots.sendingSnapshot --always [not(isAnyFollowerSentSnapshot)]--> leader.snapshots.idle',
      'leader.transfer.idle --always [isTransferring]--> leader.transfer.transferring',
      'leader.transfer.transferring --after transferTimeout--> (stays)',
      'leader.transfer.transferring --always [not(isTransferring)]--> leader.transfer.idle',
      'failed --rpc.requestVote--> (stays)',
      'failed --rpc.requestVote.reply--> (stays)',
      'failed --rpc.appendEntries--> (stays)',
      'failed --rpc.appendEntries.reply--> (stays)',
      'failed --rpc.installSnapshot--> (stays)',
      'failed --rpc.installSnapshot.reply--> (stays)',
      'failed --rpc.preVote--> (stays)',
      'failed --rpc.preVote.reply--> (stays)',
      'failed --rpc.timeoutNow--> (stays)',
      'failed --client.propose--> (stays)',
      'failed --client.read--> (stays)',
      'failed --client.transfer--> (stays)',
      'failed --client.changeConfig--> (stays)',
      'failed --client.snapshot--> (stays)',
    ]);
  });

  it('agrees with xstate/graph on every state and every transition taken on an event', () => {
    expect(walkerView(raftServerMachine)).toEqual(directedGraphView(raftServerMachine));
  });
});
