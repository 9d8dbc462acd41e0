import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/protocol/types.ts';
import { PaperCluster, appendEntries, entriesOfTerms, isMessage } from './harness.ts';

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

const text = (entries: readonly Entry[]) => entries.map((e) => new TextDecoder().decode(e.command));

/** n1 a follower in `term` holding a log of `terms`, among n2 (the leader in the tests) and n3. */
function followerWithLog(terms: readonly number[], term: number): PaperCluster {
  const servers = new PaperCluster(['n1', 'n2', 'n3']);
  servers.start('n1', { hardState: { term, votedFor: null }, entries: entriesOfTerms(terms) });
  servers.start('n2', { hardState: { term, votedFor: null }, entries: [] });
  servers.start('n3', { hardState: { term, votedFor: null }, entries: [] });
  return servers;
}

describe('log replication (§5.3)', () => {
  it('appends a proposal to its log and sends it in one AppendEntries per follower, with prevLogIndex, prevLogTerm and leaderCommit (§5.3)', () => {
    cluster = PaperCluster.started(3);
    cluster.elect('n1');
    expect(cluster.logOf('n1')).toBe('1:1');
    expect(cluster.context('n1').commitIndex).toBe(1);
    const answer = cluster.propose('n1', 'x', 'y');
    expect(answer).toMatchObject({ isLeader: true, leaderId: 'n1', term: 1, index: 2, count: 2 });
    expect(cluster.logOf('n1')).toBe('1:1 2:1 3:1');
    const sent = cluster.take();
    expect(
      sent.map((m) => m.type === 'rpc.appendEntries' && [m.to, m.term, m.prevLogIndex, m.prevLogTerm, text(m.entries), m.leaderCommit]),
    ).toEqual([
      ['n2', 1, 1, 1, ['x', 'y'], 1],
      ['n3', 1, 1, 1, ['x', 'y'], 1],
    ]);
    // Reference: section 5.3
  });

  it('commits an entry once a majority holds it, and applies it (§5.3)', () => {
    cluster = PaperCluster.started(5);
    cluster.elect('n1');
    cluster.propose('n1', 'x');
    cluster.deliver(isMessage('rpc.appendEntries', 'n2'));
    cluster.deliver(isMessage('rpc.appendEntries.reply'));
    // n1 and n2: two of five.
    expect(cluster.context('n1').commitIndex).toBe(1);
    expect(text(cluster.applied.get('n1') ?? [])).toEqual(['']);
    cluster.deliver(isMessage('rpc.appendEntries', 'n3'));
    cluster.deliver(isMessage('rpc.appendEntries.reply'));
    // n1, n2 and n3: a majority.
    expect(cluster.context('n1').commitIndex).toBe(2);
    expect(text(cluster.applied.get('n1') ?? [])).toEqual(['', 'x']);
    // Reference: section 5.3
  });

  it('makes a follower learn commits from leaderCommit, up to the last entry the AppendEntries vouches for (§5.3)', () => {
    cluster = PaperCluster.started(3);
    cluster.elect('n1');
    cluster.propose('n1', 'x');
    cluster.deliverAll();
    expect(cluster.context('n1').commitIndex).toBe(2);
    expect(cluster.context('n2').commitIndex).toBe(1);
    // The next AppendEntries (here a heartbeat) carries the new leaderCommit.
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliverAll();
    expect(cluster.context('n2').commitIndex).toBe(2);
    expect(text(cluster.applied.get('n2') ?? [])).toEqual(['', 'x']);

    // Figure 2: commitIndex = min(leaderCommit, index of last new entry). A follower holding five
    // entries of an old term cannot commit beyond what this AppendEntries checked.
    cluster.stop();
    cluster = followerWithLog([1, 1, 1, 1, 1], 2);
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 5 }));
    expect(cluster.context('n1').commitIndex).toBe(1);
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: entriesOfTerms([1, 1]).slice(1), leaderCommit: 5 }));
    expect(cluster.context('n1').commitIndex).toBe(2);
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 5, prevLogTerm: 1, leaderCommit: 3 }));
    expect(cluster.context('n1').commitIndex).toBe(3);
    // Never backwards: a late AppendEntries with an older leaderCommit.
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 5, prevLogTerm: 1, leaderCommit: 1 }));
    expect(cluster.context('n1').commitIndex).toBe(3);
    expect(cluster.applied.get('n1')?.map((e) => e.index)).toEqual([1, 2, 3]);
    // Reference: section 5.3
  });

  it('commits every preceding entry with the one it counts, including entries of earlier leaders (§5.3)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n1', { hardState: { term: 3, votedFor: null }, entries: entriesOfTerms([1, 1, 2]) });
    cluster.start('n2', { hardState: { term: 3, votedFor: null }, entries: entriesOfTerms([1]) });
    cluster.start('n3', { hardState: { term: 3, votedFor: null }, entries: [] });
    cluster.elect('n1');
    expect(cluster.logOf('n1')).toBe('1:1 2:1 3:2 4:4');
    expect(cluster.context('n1').commitIndex).toBe(4);
    expect(cluster.applied.get('n1')?.map((e) => `${e.index}:${e.term}`)).toEqual(['1:1', '2:1', '3:2', '4:4']);
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliverAll();
    for (const id of ['n2', 'n3']) expect(cluster.applied.get(id)?.map((e) => `${e.index}:${e.term}`)).toEqual(['1:1', '2:1', '3:2', '4:4']);
    // Reference: section 5.3
  });

  it('refuses an AppendEntries whose prevLogIndex/prevLogTerm it does not hold, with a hint, and keeps its log (§5.3)', () => {
    cluster = followerWithLog([1, 1, 2, 2], 3);
    // Too short: no entry 6. The hint is the follower's last index + 1.
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 3, prevLogIndex: 6, prevLogTerm: 3, entries: entriesOfTerms([1, 1, 2, 2, 3, 3, 3]).slice(6) }));
    expect(cluster.take()).toMatchObject([
      { type: 'rpc.appendEntries.reply', to: 'n2', term: 3, success: false, prevLogIndex: 6, conflictTerm: 0, conflictIndex: 5 },
    ]);
    // Entry 4 has another term: the hint is that term (2) and the first index of it (3).
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 3, prevLogIndex: 4, prevLogTerm: 3, entries: entriesOfTerms([1, 1, 2, 3, 3]).slice(4) }));
    expect(cluster.take()).toMatchObject([
      { type: 'rpc.appendEntries.reply', to: 'n2', term: 3, success: false, prevLogIndex: 4, conflictTerm: 2, conflictIndex: 3 },
    ]);
    expect(cluster.logOf('n1')).toBe('1:1 2:1 3:2 4:2');
    // Refusing the entries is not refusing the leader: n2 is the leader of term 3.
    expect(cluster.context('n1').leaderId).toBe('n2');
    // Reference: section 5.3
  });

  it('deletes the conflicting entry and all that follow it, keeps the entries that match, and appends the new ones (§5.3)', () => {
    cluster = followerWithLog([1, 1, 2, 2, 2], 3);
    const before = cluster.context('n1').log.entryAt(3);
    // The leader's log is 1 1 2 3: entry 3 matches, entry 4 conflicts.
    cluster.send('n1', appendEntries({ from: 'n2', to: 'n1', term: 3, prevLogIndex: 2, prevLogTerm: 1, entries: entriesOfTerms([1, 1, 2, 3]).slice(2) }));
    expect(cluster.logOf('n1')).toBe('1:1 2:1 3:2 4:3');
    expect(cluster.context('n1').log.entryAt(3)).toBe(before);
    expect(cluster.durableLogOf('n1')).toBe('1:1 2:1 3:2 4:3');
    expect(cluster.take()).toMatchObject([{ type: 'rpc.appendEntries.reply', success: true, matchIndex: 4 }]);
    // Reference: section 5.3
  });

  it('does not shorten its log for a late or duplicated AppendEntries whose entries it already holds (§5.3, §5.5)', () => {
    cluster = followerWithLog([1, 1, 1, 1], 1);
    const late = appendEntries({ from: 'n2', to: 'n1', term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: entriesOfTerms([1, 1]).slice(1) });
    cluster.send('n1', late);
    cluster.send('n1', late);
    expect(cluster.logOf('n1')).toBe('1:1 2:1 3:1 4:1');
    expect(cluster.durableLogOf('n1')).toBe('1:1 2:1 3:1 4:1');
    expect(cluster.context('n1').log.removalCount).toBe(0);
    // The same answer each time.
    expect(cluster.take().map((m) => m.type === 'rpc.appendEntries.reply' && [m.success, m.matchIndex])).toEqual([
      [true, 2],
      [true, 2],
    ]);
    // Reference: section 5.3
  });

  // Figure 7: the leader of term 8 holds the top log; a follower may hold any of (a)–(f).
  const figure7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  it.each([
    ['(a) missing an entry', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ['(b) missing many entries', [1, 1, 1, 4]],
    ['(c) an extra entry of the current term', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['(d) extra entries of a later term', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['(e) missing entries and extra entries of an old term', [1, 1, 1, 4, 4, 4, 4]],
    ['(f) extra entries of terms the leader never saw', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ])('brings a follower log into line with its own: Figure 7 %s (§5.3)', (_, followerTerms) => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n1', { hardState: { term: 7, votedFor: null }, entries: entriesOfTerms(figure7Leader) });
    cluster.start('n2', { hardState: { term: 7, votedFor: null }, entries: entriesOfTerms(followerTerms) });
    // n3 holds the leader's log and gives it the vote n2 may refuse ((c) and (d) are more up to date).
    cluster.start('n3', { hardState: { term: 7, votedFor: null }, entries: entriesOfTerms(figure7Leader) });
    cluster.elect('n1');
    expect(cluster.context('n1').currentTerm).toBe(8);
    const leaderLog = cluster.context('n1').log;
    const followerLog = cluster.context('n2').log;
    expect(cluster.logOf('n1')).toBe('1:1 2:1 3:1 4:4 5:4 6:5 7:5 8:6 9:6 10:6 11:8');
    expect(followerLog.slice(1, followerLog.lastIndex + 1)).toEqual(leaderLog.slice(1, leaderLog.lastIndex + 1));
    expect(cluster.durableLogOf('n2')).toBe(cluster.logOf('n1'));
    expect(cluster.context('n1').progress.n2.matchIndex).toBe(11);
    // Reference: section 5.3
  });

  it('answers a proposal to a follower with isLeader false and the leader it knows, and appends nothing (§5.1)', () => {
    cluster = PaperCluster.started(3);
    cluster.elect('n1');
    expect(cluster.propose('n2', 'x')).toMatchObject({ isLeader: false, leaderId: 'n1', term: 1, count: 0 });
    expect(cluster.logOf('n2')).toBe('1:1');
    expect(cluster.inFlight).toEqual([]);
    // A candidate knows no leader.
    cluster.timeout('n3');
    expect(cluster.propose('n3', 'y')).toMatchObject({ isLeader: false, leaderId: null, term: 2 });
    // Reference: section 5.1
  });
});
