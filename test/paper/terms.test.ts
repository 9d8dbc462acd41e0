import { afterEach, describe, expect, it } from 'vitest';
import type { RaftMessage } from '../../src/protocol/messages.ts';
import type { Role } from '../../src/protocol/types.ts';
import {
  PaperCluster,
  appendEntries,
  appendEntriesReply,
  installSnapshot,
  installSnapshotReply,
  entriesOfTerms,
  isMessage,
  requestVote,
  requestVoteReply,
} from './harness.ts';

const clusters: PaperCluster[] = [];
afterEach(() => {
  for (const cluster of clusters.splice(0)) cluster.stop();
});

/** Three servers whose logs hold one entry of term 1, all in term 1; stopped after the test. */
function threeServers(term = 1): PaperCluster {
  const cluster = new PaperCluster(['n1', 'n2', 'n3']);
  clusters.push(cluster);
  for (const id of cluster.ids) cluster.start(id, { hardState: { term, votedFor: null }, entries: entriesOfTerms([1]) });
  return cluster;
}

/** A cluster where n1 is in `role` in term 2 and has cast its vote of term 2; nothing in flight. */
function n1As(role: Role): PaperCluster {
  const cluster = threeServers();
  if (role === 'follower') {
    // n2 campaigns and n1 votes for it.
    cluster.timeout('n2');
    cluster.deliver(isMessage('rpc.requestVote', 'n1'));
    expect(cluster.context('n1').votedFor).toBe('n2');
  } else if (role === 'candidate') {
    // n1 votes for itself; its requests are lost.
    cluster.timeout('n1');
  } else {
    cluster.elect('n1');
  }
  cluster.take();
  expect(cluster.role('n1')).toBe(role);
  expect(cluster.context('n1').currentTerm).toBe(2);
  expect(cluster.context('n1').votedFor).not.toBeNull();
  return cluster;
}

/**
 * One message of each type that carries a term to adopt, from n3 to n1 in `term`. No request can
 * win n1's vote or log. (A PreVote changes no term, and a TimeoutNow makes a candidate: both have
 * tests of their own.)
 */
const higherTermMessages: Record<Exclude<RaftMessage['type'], 'rpc.preVote' | 'rpc.timeoutNow'>, (term: number) => RaftMessage> = {
  // n3's log is empty, so n1 (holding index 1) refuses the vote once it has adopted the term.
  'rpc.requestVote': (term) => requestVote({ from: 'n3', to: 'n1', term }),
  'rpc.requestVote.reply': (term) => requestVoteReply({ from: 'n3', to: 'n1', term, voteGranted: false }),
  'rpc.appendEntries': (term) => appendEntries({ from: 'n3', to: 'n1', term }),
  'rpc.appendEntries.reply': (term) => appendEntriesReply({ from: 'n3', to: 'n1', term, success: false }),
  // The checksum does not match, so n1 takes nothing from it.
  'rpc.installSnapshot': (term) => installSnapshot({ from: 'n3', to: 'n1', term }),
  'rpc.installSnapshot.reply': (term) => installSnapshotReply({ from: 'n3', to: 'n1', term }),
  'rpc.preVote.reply': (term) => ({ type: 'rpc.preVote.reply', from: 'n3', to: 'n1', term, voteGranted: false }),
};

describe('terms (§5.1)', () => {
  it.each<Role>(['follower', 'candidate', 'leader'])(
    'makes a %s that sees a higher term in any of the six messages adopt it, clear its vote and become follower (§5.1)',
    (role) => {
      for (const [type, make] of Object.entries(higherTermMessages)) {
        const cluster = n1As(role);
        cluster.send('n1', make(5));
        const context = cluster.context('n1');
        expect({ type, role: cluster.role('n1'), term: context.currentTerm, votedFor: context.votedFor }).toEqual({
          type,
          role: 'follower',
          term: 5,
          votedFor: null,
        });
        // The new term is on disk before anything is said in it (Figure 2: persistent state).
        expect(cluster.disk('n1').recover().hardState).toEqual({ term: 5, votedFor: null });
        expect(context.leaderId).toBe(type === 'rpc.appendEntries' || type === 'rpc.installSnapshot' ? 'n3' : null);
        // A request is answered, in the adopted term; a reply is not.
        const answers = cluster.take().map((m) => [m.type, m.term]);
        expect(answers).toEqual(type.endsWith('.reply') ? [] : [[`${type}.reply`, 5]]);
      }
      // Reference: section 5.1
    },
  );

  it('refuses a RequestVote of a stale term, answering with its own term, and keeps its vote free (§5.1)', () => {
    const cluster = threeServers(3);
    // n2's log would be up to date (last term 2 > 1): only the stale term can make n1 refuse.
    cluster.send('n1', requestVote({ from: 'n2', to: 'n1', term: 2, lastLogIndex: 5, lastLogTerm: 2 }));
    expect(cluster.take()).toEqual([
      { type: 'rpc.requestVote.reply', from: 'n1', to: 'n2', term: 3, voteGranted: false },
    ]);
    expect(cluster.context('n1').currentTerm).toBe(3);
    expect(cluster.context('n1').votedFor).toBeNull();
    // Reference: section 5.1
  });

  it('refuses an AppendEntries of a stale term, answering with its own term, and neither appends nor follows the sender (§5.1)', () => {
    const cluster = threeServers(3);
    const stale = appendEntries({
      from: 'n2',
      to: 'n1',
      term: 2,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: entriesOfTerms([1, 2]).slice(1),
      leaderCommit: 2,
    });
    cluster.send('n1', stale);
    const [reply] = cluster.take(isMessage('rpc.appendEntries.reply', 'n2'));
    expect(reply).toMatchObject({ from: 'n1', term: 3, success: false });
    expect(cluster.logOf('n1')).toBe('1:1');
    expect(cluster.context('n1').commitIndex).toBe(0);
    expect(cluster.context('n1').leaderId).toBeNull();
    // Reference: section 5.1
  });

  it('ignores replies of a stale term: a candidate does not count an old vote, a leader not an old acknowledgement (§5.1)', () => {
    const cluster = threeServers(2);
    cluster.timeout('n1');
    cluster.take();
    expect(cluster.context('n1').currentTerm).toBe(3);
    // Two granted votes from term 2 would be a majority if counted.
    cluster.send('n1', requestVoteReply({ from: 'n2', to: 'n1', term: 2 }));
    cluster.send('n1', requestVoteReply({ from: 'n3', to: 'n1', term: 2 }));
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').votesGranted).toEqual(['n1']);

    // The same candidate counts a vote of its own term and wins: the replies above were ignored for their term alone.
    cluster.send('n1', requestVoteReply({ from: 'n2', to: 'n1', term: 3 }));
    expect(cluster.role('n1')).toBe('leader');
    cluster.take();

    // As leader of term 3 (log 1:1 2:3), an old acknowledgement of index 2 from n2 would make a majority.
    cluster.send('n1', appendEntriesReply({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 1, matchIndex: 2 }));
    expect(cluster.context('n1').progress.n2.matchIndex).toBe(0);
    expect(cluster.context('n1').commitIndex).toBe(0);
    // Reference: section 5.1
  });
});
