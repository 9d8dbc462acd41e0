import { afterEach, describe, expect, it } from 'vitest';
import type { AppendEntries } from '../../src/protocol/messages.ts';
import { PaperCluster, entriesOfTerms, isMessage, requestVote } from './harness.ts';

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

/**
 * Figure 8 up to (c), with five servers s1–s5 whose logs start as the paper's: one entry of term 1.
 * One entry per AppendEntries (appendEntriesMax 1), so that the term-2 entry can reach a follower
 * without the term-4 entry behind it.
 *
 * The chart appends a no-op of its term when it becomes leader (dissertation §6.4), and those
 * no-ops play the paper's entries: s1's no-op of term 2 is the paper's index-2 entry of term 2,
 * s5's no-op of term 3 its index-2 entry of term 3, and s1's no-op of term 4 its index-3 entry of
 * term 4.
 *
 * Returns the AppendEntries carrying the term-4 entry to s3 and s4, held back at (c).
 */
function figure8UpToC(): AppendEntries[] {
  cluster = new PaperCluster(['s1', 's2', 's3', 's4', 's5'], { config: { appendEntriesMax: 1 } });
  for (const id of cluster.ids) cluster.start(id, { hardState: { term: 1, votedFor: null }, entries: entriesOfTerms([1]) });
  const notAppendEntries = (m: { type: string }) => m.type !== 'rpc.appendEntries';

  // (a) s1 is leader of term 2 and replicates its index-2 entry to s2 only.
  cluster.timeout('s1');
  cluster.deliverAll(100, notAppendEntries);
  expect(cluster.role('s1')).toBe('leader');
  cluster.deliver(isMessage('rpc.appendEntries', 's2'));
  cluster.take(isMessage('rpc.appendEntries'));
  cluster.deliverAll();
  expect(cluster.ids.map((id) => cluster.logOf(id))).toEqual(['1:1 2:2', '1:1 2:2', '1:1', '1:1', '1:1']);

  // (b) s1 crashes; s5 is elected for term 3 with the votes of s3, s4 and itself (s2's log is more
  // up to date and refuses), and takes a different entry at index 2, which goes nowhere.
  cluster.crash('s1');
  cluster.timeout('s5');
  cluster.deliverAll(100, notAppendEntries);
  expect(cluster.role('s5')).toBe('leader');
  expect(cluster.context('s5').currentTerm).toBe(3);
  cluster.take();
  expect(cluster.logOf('s5')).toBe('1:1 2:3');

  // (c) s5 crashes; s1 restarts. Its first election (term 3) fails, since s3 and s4 voted for s5 in
  // term 3; it wins term 4 with s2, s3 and s4, and takes the index-3 entry of term 4.
  cluster.crash('s5');
  cluster.start('s1');
  cluster.timeout('s1');
  cluster.deliverAll();
  expect(cluster.role('s1')).toBe('candidate');
  cluster.timeout('s1');
  cluster.deliverAll(100, notAppendEntries);
  expect(cluster.role('s1')).toBe('leader');
  expect(cluster.context('s1').currentTerm).toBe(4);
  expect(cluster.logOf('s1')).toBe('1:1 2:2 3:4');

  // s1 continues replication. Its AppendEntries to s2 is lost (s2 keeps 1:1 2:2, as in the paper).
  // s3 and s4 refuse the first AppendEntries (they lack entry 2), take the term-2 entry once s1
  // backs up, and acknowledge it; the term-4 entry that s1 sends next is held back.
  cluster.take(isMessage('rpc.appendEntries', 's2'));
  cluster.deliver(isMessage('rpc.appendEntries'));
  cluster.deliver(isMessage('rpc.appendEntries.reply'));
  cluster.deliver(isMessage('rpc.appendEntries'));
  cluster.deliver(isMessage('rpc.appendEntries.reply'));
  const termFourEntries = cluster.take(isMessage('rpc.appendEntries'));
  expect(termFourEntries.map((m) => [m.to, m.prevLogIndex, m.entries.map((e) => e.term)])).toEqual([
    ['s3', 2, [4]],
    ['s4', 2, [4]],
  ]);
  expect(cluster.inFlight).toEqual([]);
  // The term-2 entry is on s1, s2, s3 and s4 (the paper draws it on S1–S3, with S4 at 1:1: here s1
  // learns of the majority through s3 and s4, since s2's acknowledgement would carry the term-4 entry).
  expect(['s1', 's2', 's3', 's4'].map((id) => cluster.logOf(id))).toEqual(['1:1 2:2 3:4', '1:1 2:2', '1:1 2:2', '1:1 2:2']);
  return termFourEntries;
}

describe('safety (§5.4)', () => {
  it('sends RequestVote carrying the candidate’s last log index and term (§5.4.1)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 1, 2]) });
    cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: [] });
    cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: [] });
    cluster.timeout('n1');
    expect(cluster.take().map((m) => m.type === 'rpc.requestVote' && [m.to, m.term, m.lastLogIndex, m.lastLogTerm])).toEqual([
      ['n2', 3, 3, 2],
      ['n3', 3, 3, 2],
    ]);
    // Reference: section 5.4.1
  });

  it('grants a vote only to a candidate whose log is at least as up-to-date: last term first, then length (§5.4.1)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    // The voter's log: last index 3, last term 2. Each request comes in a new term, so the vote is free.
    cluster.start('n2', { hardState: { term: 3, votedFor: null }, entries: entriesOfTerms([1, 2, 2]) });
    const cases: [lastLogTerm: number, lastLogIndex: number, granted: boolean][] = [
      [1, 9, false], // an older last term loses, however long
      [2, 2, false], // the same last term and shorter
      [2, 3, true], // the same last term and as long
      [2, 4, true], // the same last term and longer
      [3, 1, true], // a newer last term wins, however short
    ];
    const answers = cases.map(([lastLogTerm, lastLogIndex], i) => {
      cluster.send('n2', requestVote({ from: 'n1', to: 'n2', term: 4 + i, lastLogIndex, lastLogTerm }));
      const [reply] = cluster.take(isMessage('rpc.requestVote.reply'));
      return [lastLogTerm, lastLogIndex, reply.voteGranted];
    });
    expect(answers).toEqual(cases);
    // Reference: section 5.4.1
  });

  it('commits an entry of an earlier term only by committing an entry of its own term after it (§5.4.2)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3'], { config: { appendEntriesMax: 1 } });
    cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1]) });
    cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1]) });
    cluster.timeout('n1');
    cluster.deliverAll(100, (m) => m.type !== 'rpc.appendEntries');
    expect(cluster.role('n1')).toBe('leader');
    expect(cluster.logOf('n1')).toBe('1:1 2:2 3:3');
    // The first AppendEntries (after index 2) is refused; n1 backs up and sends entry 2 alone.
    cluster.deliver(isMessage('rpc.appendEntries'));
    cluster.deliver(isMessage('rpc.appendEntries.reply'));
    cluster.deliver(isMessage('rpc.appendEntries'));
    cluster.deliver(isMessage('rpc.appendEntries.reply'));
    // Every server holds entry 2 of term 2 and n1 knows it, yet it is not committed by counting.
    expect(['n1', 'n2', 'n3'].map((id) => cluster.logOf(id))).toEqual(['1:1 2:2 3:3', '1:1 2:2', '1:1 2:2']);
    expect(cluster.context('n1').progress.n2.matchIndex).toBe(2);
    expect(cluster.context('n1').progress.n3.matchIndex).toBe(2);
    expect(cluster.context('n1').commitIndex).toBe(0);
    expect(cluster.applied.get('n1')).toEqual([]);
    // Entry 3, of term 3, reaches a majority: it commits, and entry 2 with it.
    cluster.deliverAll();
    expect(cluster.context('n1').commitIndex).toBe(3);
    expect(cluster.applied.get('n1')?.map((e) => `${e.index}:${e.term}`)).toEqual(['1:1', '2:2', '3:3']);
    // Reference: section 5.4.2
  });

  it('Figure 8 (a)–(d): an entry of term 2 on a majority is not committed by the leader of term 4, and a later leader may overwrite it (§5.4.2)', () => {
    figure8UpToC();
    // (c) The term-2 entry is on a majority, and s1 knows of s3 and s4, but it is of an earlier term:
    // counting replicas does not commit it.
    expect(cluster.context('s1').progress.s3.matchIndex).toBe(2);
    expect(cluster.context('s1').progress.s4.matchIndex).toBe(2);
    expect(cluster.context('s1').commitIndex).toBe(0);
    expect(cluster.applied.get('s1')).toEqual([]);

    // (d) s1 crashes before the term-4 entry spreads; s5 restarts. Its term-4 election fails (everyone
    // voted for s1 in term 4); in term 5 it wins with the votes of s2, s3 and s4, whose last term (2)
    // is older than its own (3), and overwrites index 2 everywhere with its term-3 entry.
    cluster.crash('s1');
    cluster.start('s5');
    cluster.timeout('s5');
    cluster.deliverAll();
    expect(cluster.role('s5')).toBe('candidate');
    cluster.timeout('s5');
    cluster.deliverAll();
    expect(cluster.role('s5')).toBe('leader');
    expect(cluster.context('s5').currentTerm).toBe(5);
    for (const id of ['s2', 's3', 's4', 's5']) expect(cluster.logOf(id)).toBe('1:1 2:3 3:5');
    // Had s1 committed the term-2 entry at (c), this would have erased a committed entry. Nobody applied it.
    for (const id of cluster.ids) expect(cluster.applied.get(id)?.filter((e) => e.term === 2)).toEqual([]);
    // Reference: section 5.4.2
  });

  it('Figure 8 (e): once an entry of term 4 is on a majority, it commits with the term-2 entry, and s5 can no longer be elected (§5.4.2)', () => {
    const termFourEntries = figure8UpToC();
    // (e) The term-4 entry reaches s3 and s4: with s1 a majority of five.
    for (const message of termFourEntries) cluster.send(message.to, message);
    cluster.deliverAll();
    expect(cluster.context('s1').commitIndex).toBe(3);
    expect(cluster.applied.get('s1')?.map((e) => `${e.index}:${e.term}`)).toEqual(['1:1', '2:2', '3:4']);

    // s1 crashes and s5 restarts: s3 and s4 hold a newer last term (4) than s5 (3) and refuse it,
    // so s5 gets at most its own vote and s2's, election after election.
    cluster.crash('s1');
    cluster.start('s5');
    for (let election = 0; election < 4; election++) {
      cluster.timeout('s5');
      cluster.deliverAll();
      expect(cluster.role('s5')).toBe('candidate');
    }
    // Any leader that can be elected holds the term-2 entry, and brings everyone into line with it.
    cluster.start('s1');
    cluster.timeout('s3');
    cluster.deliverAll();
    expect(cluster.role('s3')).toBe('leader');
    for (const id of cluster.ids) expect(cluster.logOf(id).startsWith('1:1 2:2 3:4 ')).toBe(true);
    // Reference: section 5.4.2
  });
});
