import { afterEach, describe, expect, it } from 'vitest';
import { PaperCluster, isMessage, requestVote } from './harness.ts';

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

// Figure 2: currentTerm, votedFor and log[] are "updated on stable storage before responding to
// RPCs"; ARCHITECTURE.md rule 1 ("persist before you speak"). §5.5: a server that crashes and
// restarts with that state can safely answer again.
describe('persistence (§5.5, Figure 2)', () => {
  it('does not send a granted vote until the vote is synced (§5.5)', () => {
    cluster = PaperCluster.started(3);
    cluster.timeout('n1');
    cluster.holdSyncs('n2');
    cluster.deliver(isMessage('rpc.requestVote', 'n2'));
    expect(cluster.context('n2').votedFor).toBe('n1');
    expect(cluster.inFlight.filter((m) => m.from === 'n2')).toEqual([]);
    cluster.releaseSyncs('n2');
    expect(cluster.take((m) => m.from === 'n2')).toEqual([
      { type: 'rpc.requestVote.reply', from: 'n2', to: 'n1', term: 1, voteGranted: true },
    ]);
    expect(cluster.disk('n2').recover().hardState).toEqual({ term: 1, votedFor: 'n1' });
    // Reference: section 5.5
  });

  it('does not send an AppendEntries success until the entries are synced (§5.5)', () => {
    cluster = PaperCluster.started(3);
    cluster.elect('n1');
    cluster.propose('n1', 'x');
    cluster.holdSyncs('n2');
    cluster.deliver(isMessage('rpc.appendEntries', 'n2'));
    expect(cluster.logOf('n2')).toBe('1:1 2:1');
    expect(cluster.durableLogOf('n2')).toBe('1:1');
    expect(cluster.inFlight.filter((m) => m.from === 'n2')).toEqual([]);
    cluster.releaseSyncs('n2');
    expect(cluster.durableLogOf('n2')).toBe('1:1 2:1');
    expect(cluster.take((m) => m.from === 'n2')).toMatchObject([{ type: 'rpc.appendEntries.reply', success: true, matchIndex: 2 }]);
    // Reference: section 5.5
  });

  it('makes a candidate ask for votes only once its new term and its own vote are synced (§5.5)', () => {
    cluster = PaperCluster.started(3);
    cluster.holdSyncs('n1');
    cluster.timeout('n1');
    expect(cluster.context('n1').currentTerm).toBe(1);
    expect(cluster.disk('n1').recover().hardState).toEqual({ term: 0, votedFor: null });
    expect(cluster.inFlight).toEqual([]);
    cluster.releaseSyncs('n1');
    expect(cluster.disk('n1').recover().hardState).toEqual({ term: 1, votedFor: 'n1' });
    expect(cluster.take().map((m) => [m.type, m.to, m.term])).toEqual([
      ['rpc.requestVote', 'n2', 1],
      ['rpc.requestVote', 'n3', 1],
    ]);
    // Reference: section 5.5
  });

  it('makes a leader send at once but count itself toward a commit only for entries it has synced (§5.5)', () => {
    cluster = PaperCluster.started(5);
    cluster.elect('n1');
    expect(cluster.context('n1').commitIndex).toBe(1);
    cluster.holdSyncs('n1');
    cluster.propose('n1', 'x');
    // The AppendEntries go out before the leader's own sync.
    expect(cluster.inFlight.map((m) => m.type === 'rpc.appendEntries' && m.to)).toEqual(['n2', 'n3', 'n4', 'n5']);
    cluster.deliver((m) => m.type === 'rpc.appendEntries' && (m.to === 'n2' || m.to === 'n3'));
    cluster.take(isMessage('rpc.appendEntries'));
    cluster.deliver(isMessage('rpc.appendEntries.reply'));
    // n2 and n3 hold entry 2 durably; with n1's unsynced copy that would be three of five.
    expect(cluster.context('n1').progress.n2.matchIndex).toBe(2);
    expect(cluster.context('n1').progress.n3.matchIndex).toBe(2);
    expect(cluster.context('n1').commitIndex).toBe(1);
    cluster.releaseSyncs('n1');
    expect(cluster.context('n1').commitIndex).toBe(2);
    expect(cluster.applied.get('n1')?.map((e) => e.index)).toEqual([1, 2]);
    // Reference: section 5.5
  });

  it('keeps its synced term, vote and log across a crash, and loses what was not synced (§5.5)', () => {
    cluster = PaperCluster.started(3);
    cluster.elect('n1');
    cluster.propose('n1', 'x');
    cluster.deliverAll();
    expect(cluster.logOf('n2')).toBe('1:1 2:1');
    // Synced: term 1, the vote for n1, entries 1–2. Not synced: entry 3, then term 2 and a vote for n3.
    cluster.holdSyncs('n2');
    cluster.propose('n1', 'y');
    cluster.deliver(isMessage('rpc.appendEntries', 'n2'));
    cluster.send('n2', requestVote({ from: 'n3', to: 'n2', term: 2, lastLogIndex: 3, lastLogTerm: 1 }));
    expect(cluster.context('n2')).toMatchObject({ currentTerm: 2, votedFor: 'n3' });
    expect(cluster.logOf('n2')).toBe('1:1 2:1 3:1');
    cluster.crash('n2');
    cluster.start('n2');
    expect(cluster.context('n2')).toMatchObject({ currentTerm: 1, votedFor: 'n1' });
    expect(cluster.logOf('n2')).toBe('1:1 2:1');
    // It remembers its vote of term 1: another candidate of term 1 is refused.
    cluster.take();
    cluster.send('n2', requestVote({ from: 'n3', to: 'n2', term: 1, lastLogIndex: 3, lastLogTerm: 1 }));
    expect(cluster.take()).toMatchObject([{ type: 'rpc.requestVote.reply', to: 'n3', term: 1, voteGranted: false }]);
    // Reference: section 5.5
  });
});
