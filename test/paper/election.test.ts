import { afterEach, describe, expect, it } from 'vitest';
import { PaperCluster, entriesOfTerms } from './harness.ts';

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

describe('election (§5.2)', () => {
  it('starts every server as a follower (§5.2)', () => {
    cluster = PaperCluster.started(3);
    for (const id of cluster.ids) expect(cluster.role(id)).toBe('follower');
    for (const id of cluster.ids) expect(cluster.context(id).currentTerm).toBe(0);
    // Reference: section 5.2
  });

  it('makes a follower that hears nothing start an election: new term, self-vote synced, RequestVote to all (§5.2)', () => {
    cluster = PaperCluster.started(3);
    cluster.holdSyncs('n1');
    cluster.timeout('n1');
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').currentTerm).toBe(1);
    expect(cluster.context('n1').votedFor).toBe('n1');
    expect(cluster.inFlight).toEqual([]);
    cluster.releaseSyncs('n1');
    const requests = cluster.take();
    expect(requests.map((m) => [m.type, m.to, m.term])).toEqual([
      ['rpc.requestVote', 'n2', 1],
      ['rpc.requestVote', 'n3', 1],
    ]);
    // Reference: section 5.2
  });

  it('wins with votes from a majority and sends heartbeats at once (§5.2)', () => {
    cluster = PaperCluster.started(5);
    cluster.timeout('n1');
    cluster.deliver((m) => m.type === 'rpc.requestVote' && (m.to === 'n2' || m.to === 'n3'));
    cluster.take((m) => m.type === 'rpc.requestVote');
    expect(cluster.role('n1')).toBe('candidate');
    cluster.deliver((m) => m.type === 'rpc.requestVote.reply');
    expect(cluster.role('n1')).toBe('leader');
    const appends = cluster.take((m) => m.type === 'rpc.appendEntries');
    expect(appends.map((m) => m.to).sort()).toEqual(['n2', 'n3', 'n4', 'n5']);
    // Reference: section 5.2
  });

  it('refuses a vote to a candidate whose log is less up-to-date (§5.4.1)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 1]) });
    cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.timeout('n1');
    cluster.deliverAll();
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n2').votedFor).toBeNull();
    // Reference: section 5.4.1
  });
});
