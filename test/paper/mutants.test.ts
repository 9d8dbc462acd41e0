import { afterEach, describe, expect, it } from 'vitest';
import { assign, enqueueActions } from 'xstate';
import { raftServerMachine, replyTo, speak, type RaftServerContext, type RaftServerEvent, type ReplyAnswer } from '../../machines/raft-server.machine.ts';
import { mutants as simMutants } from '../sim/mutants.ts';
import { PaperCluster, appendEntries, entriesOfTerms, isMessage, requestVote } from './harness.ts';

/**
 * A test must be able to fail. Each check below runs one scenario of the paper's tests twice: on
 * the chart, and on the chart with ONE named guard or action overridden (`provide`) so that the
 * rule is broken. The scenario must tell them apart.
 */
const mutants = {
  /** §5.4.1: votes granted without the election restriction. */
  grantsAnyLog: simMutants.noElectionRestriction,
  /** §5.4.2: a leader commits an earlier-term entry by counting replicas. */
  commitsEarlierTermByCounting: simMutants.commitsEarlierTermByCounting,
  /** Rule 1: a granted vote goes out before the vote is synced. */
  votesBeforeSync: raftServerMachine.provide({
    actions: {
      reply: enqueueActions(({ context, event, enqueue }, params: { answer: ReplyAnswer }) => {
        const reply = replyTo(context as RaftServerContext, event as RaftServerEvent, params.answer);
        if (params.answer === 'granted') enqueue.emit({ type: 'net.send', message: reply });
        else speak(context as RaftServerContext, enqueue, reply);
      }),
    },
  }),
  /** Rule 4: a follower truncates at prevLogIndex + 1 even when what follows matches. */
  truncatesAtPrevLogIndex: simMutants.truncatesMatchingSuffix,
  /** §5.1: a server adopts a higher term but keeps the vote it cast in the old one. */
  keepsVoteInNewTerm: raftServerMachine.provide({
    actions: { adoptTerm: assign(({ event }) => ({ currentTerm: (event as { term: number }).term, leaderId: null })) },
  }),
  /** §6.4: a read answered without a heartbeat round confirming leadership. */
  readsWithoutConfirming: simMutants.readsWithoutConfirming,
  /** §6.4.1: a lease whose followers still vote (no CheckQuorum vote ignoring). */
  leaseWithoutCheckQuorum: simMutants.leaseWithoutCheckQuorum,
  /** §9.6: a voter that takes the term of a pre-vote it answers. */
  preVoteChangesTerm: simMutants.preVoteChangesTerm,
};

type Machine = typeof raftServerMachine;

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

/** Does n2 (log 1 2) vote for n1 (log 1 1)? (election.test.ts) */
function votesForStaleLog(machine: Machine): boolean {
  cluster = new PaperCluster(['n1', 'n2', 'n3'], { machine });
  cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 1]) });
  cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
  cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
  cluster.timeout('n1');
  cluster.deliver(isMessage('rpc.requestVote', 'n2'));
  const [reply] = cluster.take(isMessage('rpc.requestVote.reply'));
  cluster.stop();
  return reply.voteGranted;
}

/** The leader's commitIndex once all three servers hold entry 2 of term 2, but not entry 3 of term 3. (safety.test.ts) */
function commitIndexWithEarlierTermOnAll(machine: Machine): number {
  cluster = new PaperCluster(['n1', 'n2', 'n3'], { machine, config: { appendEntriesMax: 1 } });
  cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
  cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1]) });
  cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1]) });
  cluster.timeout('n1');
  cluster.deliverAll(100, (m) => m.type !== 'rpc.appendEntries');
  for (let step = 0; step < 2; step++) {
    cluster.deliver(isMessage('rpc.appendEntries'));
    cluster.deliver(isMessage('rpc.appendEntries.reply'));
  }
  const commitIndex = cluster.context('n1').commitIndex;
  cluster.stop();
  return commitIndex;
}

/** How many messages n2 sends after granting a vote while its disk holds every sync. (persistence.test.ts) */
function repliesWhileUnsynced(machine: Machine): number {
  cluster = PaperCluster.started(3, { machine });
  cluster.timeout('n1');
  cluster.holdSyncs('n2');
  cluster.deliver(isMessage('rpc.requestVote', 'n2'));
  const sent = cluster.take((m) => m.from === 'n2').length;
  cluster.stop();
  return sent;
}

/** n1's log (1 1 1 1) after a late AppendEntries that carries entry 2 again. (replication.test.ts) */
function logAfterLateAppendEntries(machine: Machine): string {
  cluster = new PaperCluster(['n1', 'n2'], { machine });
  cluster.start('n1', { hardState: { term: 1, votedFor: null }, entries: entriesOfTerms([1, 1, 1, 1]) });
  cluster.start('n2', { hardState: { term: 1, votedFor: null }, entries: [] });
  const entries = entriesOfTerms([1, 1]).slice(1);
  cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 1, prevLogIndex: 1, prevLogTerm: 1, entries }));
  const log = cluster.logOf('n1');
  cluster.stop();
  return log;
}

/** n1's vote after it voted for n2 in term 2 and then hears a heartbeat of term 5. (terms.test.ts) */
function voteAfterHigherTerm(machine: Machine): string | null {
  cluster = PaperCluster.started(3, { machine });
  cluster.timeout('n2');
  cluster.deliver(isMessage('rpc.requestVote', 'n1'));
  cluster.send('n1', appendEntries({ from: 'n3', to: 'n1', term: 5 }));
  const votedFor = cluster.context('n1').votedFor;
  cluster.stop();
  return votedFor;
}

const readTiming = { electionTimeoutMsMin: 200, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 };

/** Is a read on a freshly elected leader answered before any follower answered a round begun after it? (clients.test.ts) */
function readAnsweredUnconfirmed(machine: Machine): boolean {
  cluster = PaperCluster.started(3, { machine, config: { ...readTiming, preVote: true, checkQuorum: true } });
  cluster.elect('n1');
  cluster.take();
  const answered = cluster.read('n1')() !== null;
  cluster.stop();
  return answered;
}

/** Does n2, which n1 (holding a lease) just heartbeat, grant n3's RequestVote of a later term? (clients.test.ts) */
function votesDuringLease(machine: Machine): boolean {
  cluster = PaperCluster.started(3, { machine, config: { ...readTiming, preVote: false, checkQuorum: true, readMode: 'lease' } });
  for (const id of ['n2', 'n3']) cluster.tick(id, readTiming.electionTimeoutMsMin);
  cluster.take();
  cluster.elect('n1');
  cluster.take();
  cluster.send('n2', requestVote({ from: 'n3', to: 'n2', term: 9, lastLogIndex: 1, lastLogTerm: 1 }));
  const granted = cluster.take(isMessage('rpc.requestVote.reply')).some((r) => r.voteGranted);
  cluster.stop();
  return granted;
}

/** n2's term after it answers n1's pre-vote for term 1. (clients.test.ts) */
function termAfterPreVote(machine: Machine): number {
  cluster = PaperCluster.started(3, { machine, config: { ...readTiming, preVote: true } });
  cluster.timeout('n1');
  cluster.deliver(isMessage('rpc.preVote', 'n2'));
  const term = cluster.context('n2').currentTerm;
  cluster.stop();
  return term;
}

describe('the paper tests can fail', () => {
  it('tells ReadIndex from a chart that answers reads without confirming leadership (§6.4)', () => {
    expect(readAnsweredUnconfirmed(raftServerMachine)).toBe(false);
    expect(readAnsweredUnconfirmed(mutants.readsWithoutConfirming)).toBe(true);
    // Reference: dissertation section 6.4
  });

  it('tells a lease from a chart whose followers vote while the leader holds it (§6.4.1)', () => {
    expect(votesDuringLease(raftServerMachine)).toBe(false);
    expect(votesDuringLease(mutants.leaseWithoutCheckQuorum)).toBe(true);
    // Reference: dissertation section 6.4.1
  });

  it('tells PreVote from a chart whose voters take the pre-vote\'s term (§9.6)', () => {
    expect(termAfterPreVote(raftServerMachine)).toBe(0);
    expect(termAfterPreVote(mutants.preVoteChangesTerm)).toBe(1);
    // Reference: dissertation section 9.6
  });

  it('tells the election restriction from a chart that grants any log (§5.4.1)', () => {
    expect(votesForStaleLog(raftServerMachine)).toBe(false);
    expect(votesForStaleLog(mutants.grantsAnyLog)).toBe(true);
    // Reference: section 5.4.1
  });

  it('tells the commitment rule from a chart that commits earlier-term entries by counting (§5.4.2)', () => {
    expect(commitIndexWithEarlierTermOnAll(raftServerMachine)).toBe(0);
    expect(commitIndexWithEarlierTermOnAll(mutants.commitsEarlierTermByCounting)).toBe(2);
    // Reference: section 5.4.2
  });

  it('tells persist-before-speak from a chart that grants a vote before syncing it (§5.5)', () => {
    expect(repliesWhileUnsynced(raftServerMachine)).toBe(0);
    expect(repliesWhileUnsynced(mutants.votesBeforeSync)).toBe(1);
    // Reference: section 5.5
  });

  it('tells suffix-only truncation from a chart that truncates at prevLogIndex (§5.3)', () => {
    expect(logAfterLateAppendEntries(raftServerMachine)).toBe('1:1 2:1 3:1 4:1');
    expect(logAfterLateAppendEntries(mutants.truncatesAtPrevLogIndex)).toBe('1:1 2:1');
    // Reference: section 5.3
  });

  it('tells term adoption from a chart that keeps the old vote in a new term (§5.1)', () => {
    expect(voteAfterHigherTerm(raftServerMachine)).toBeNull();
    expect(voteAfterHigherTerm(mutants.keepsVoteInNewTerm)).toBe('n2');
    // Reference: section 5.1
  });
});
