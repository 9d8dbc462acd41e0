import { afterEach, describe, expect, it } from 'vitest';
import type { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { encodeConfiguration } from '../../src/core/configuration.ts';
import type { Entry, HardState } from '../../src/protocol/types.ts';
import { mutants } from '../sim/mutants.ts';
import { PaperCluster, isMessage } from './harness.ts';

/**
 * The case of Ongaro's 2015 raft-dev note on single-server changes, step by step: a leader that
 * changes the configuration before its term's no-op commits lets an earlier leader's uncommitted
 * change win an election that overlooks a committed entry. The chart refuses the change until the
 * no-op commits (guard isTermNoopUncommitted); its mutant does not, and loses a committed entry.
 */
const timing = { electionTimeoutMsMin: 200, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 };

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

const noop = (index: number, term: number): Entry => ({ index, term, kind: 'noop', command: new Uint8Array(0) });
const config = (index: number, term: number, voters: string[], learners: string[] = []): Entry => ({
  index,
  term,
  kind: 'config',
  command: encodeConfiguration({ voters, learners }),
});

/** Runs the schedule; returns whether n1 came to lead in term 3 without an entry n2 had committed. */
function ongaroSchedule(machine?: typeof raftServerMachine): { n2Appended: number; n2Committed: number; n1Leads: boolean; committedLost: boolean } {
  // C0, the initial configuration: voters n1–n4. n1, leader of term 1, added n5: C1 = n1–n5, held by n1 and n5 only, uncommitted.
  const servers = ['n1', 'n2', 'n3', 'n4'];
  cluster = new PaperCluster(['n1', 'n2', 'n3', 'n4', 'n5'], { config: timing, servers, ...(machine === undefined ? {} : { machine }) });
  const hardState: HardState = { term: 1, votedFor: 'n1' };
  const c1 = config(2, 1, [...servers, 'n5']);
  for (const id of ['n1', 'n5']) cluster.start(id, { hardState, entries: [noop(1, 1), c1] });
  for (const id of ['n2', 'n3', 'n4']) cluster.start(id, { hardState, entries: [noop(1, 1)] });
  // n2 wins term 2 under C0 with n3 and n4 (n1 hears nothing).
  cluster.timeout('n2');
  cluster.deliver((m) => m.type === 'rpc.requestVote' && (m.to === 'n3' || m.to === 'n4'));
  cluster.take(isMessage('rpc.requestVote'));
  cluster.deliver(isMessage('rpc.requestVote.reply', 'n2'));
  expect(cluster.role('n2')).toBe('leader');
  // At once, before its no-op (index 2) commits, n2 is asked to remove n4: C2 = n1–n3.
  cluster.send('n2', { type: 'client.changeConfig', requestId: 1, change: { type: 'remove', id: 'n4' } });
  // Only n3 hears n2. Under C2, n2 and n3 are a majority.
  for (let round = 0; round < 3; round++) {
    cluster.deliver((m) => m.type === 'rpc.appendEntries' && m.to === 'n3');
    cluster.deliver(isMessage('rpc.appendEntries.reply', 'n2'));
    cluster.take((m) => m.from === 'n2');
    cluster.tick('n2', timing.heartbeatIntervalMs);
  }
  const n2Appended = cluster.context('n2').log.lastIndex;
  const n2Committed = cluster.context('n2').commitIndex;
  // n1 stands in term 3 under C1 and asks n4 and n5, whose logs are behind its own or equal.
  cluster.take();
  // Its first election (term 2) is lost in the network; the second is in term 3.
  cluster.timeout('n1');
  cluster.take();
  cluster.timeout('n1');
  cluster.deliver((m) => m.type === 'rpc.requestVote' && (m.to === 'n4' || m.to === 'n5'));
  cluster.take(isMessage('rpc.requestVote'));
  cluster.deliver(isMessage('rpc.requestVote.reply', 'n1'));
  const n1Leads = cluster.role('n1') === 'leader';
  const n1Log = cluster.context('n1').log;
  let committedLost = false;
  for (let index = 1; index <= n2Committed; index++) {
    if (n1Log.termAt(index) !== cluster.context('n2').log.termAt(index)) committedLost = true;
  }
  return { n2Appended, n2Committed, n1Leads, committedLost };
}

describe('membership changes wait for the term\'s no-op (dissertation §4.1; Ongaro, raft-dev 2015)', () => {
  it('refuses the change until the no-op commits, so the earlier leader\'s change cannot win over a committed entry', () => {
    const outcome = ongaroSchedule();
    // Only the no-op was appended; with n2 and n3 alone it is not committed under C0.
    expect(outcome).toMatchObject({ n2Appended: 2, n2Committed: 0, committedLost: false });
    // Reference: dissertation section 4.1, and the bug fix noted there
  });

  it('tells the mutant that changes at once apart: n1 wins term 3 without the entries n2 committed', () => {
    const outcome = ongaroSchedule(mutants.changesBeforeNoopCommits);
    expect(outcome).toMatchObject({ n2Appended: 3, n2Committed: 3, n1Leads: true, committedLost: true });
  });
});

describe('learners and removal (dissertation §4.2.1, §4.2.2)', () => {
  /** Delivers `leader`'s AppendEntries to `to` only, and their replies back; drops the rest of what it sent. */
  function replicateTo(leader: string, to: readonly string[]): void {
    for (let round = 0; round < 3; round++) {
      cluster.deliver((m) => m.type === 'rpc.appendEntries' && to.includes(m.to));
      cluster.deliver(isMessage('rpc.appendEntries.reply', leader));
      cluster.take((m) => m.from === leader);
      cluster.tick(leader, timing.heartbeatIntervalMs);
    }
  }

  it('replicates to a learner but never counts it toward a commit', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3', 'n4'], { config: timing, servers: ['n1', 'n2', 'n3'] });
    for (const id of cluster.ids) cluster.start(id);
    cluster.elect('n1');
    cluster.send('n1', { type: 'client.changeConfig', requestId: 1, change: { type: 'addLearner', id: 'n4' } });
    cluster.deliverAll();
    expect(cluster.context('n1')).toMatchObject({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    const before = cluster.context('n1').commitIndex;
    cluster.propose('n1', 'x');
    // Only the learner holds it besides the leader: not a majority of the voters.
    replicateTo('n1', ['n4']);
    expect(cluster.context('n4').log.lastIndex).toBe(cluster.context('n1').log.lastIndex);
    expect(cluster.context('n1').commitIndex).toBe(before);
    replicateTo('n1', ['n2']);
    expect(cluster.context('n1').commitIndex).toBe(cluster.context('n1').log.lastIndex);
    // A learner never stands.
    cluster.timeout('n4');
    expect(cluster.role('n4')).toBe('follower');
    expect(cluster.take((m) => m.from === 'n4' && m.type !== 'rpc.appendEntries.reply')).toEqual([]);
    // Reference: dissertation section 4.2.1
  });

  it('lets a leader commit its own removal without counting itself, then step down and never stand', () => {
    cluster = PaperCluster.started(3, { config: timing });
    cluster.elect('n1');
    cluster.send('n1', { type: 'client.changeConfig', requestId: 1, change: { type: 'remove', id: 'n1' } });
    const removalIndex = cluster.context('n1').log.lastIndex;
    expect(cluster.context('n1')).toMatchObject({ voters: ['n2', 'n3'], configIndex: removalIndex });
    // n1 and n2 hold it: a majority of the old configuration, not of the new one without n1.
    replicateTo('n1', ['n2']);
    expect(cluster.context('n1').commitIndex).toBeLessThan(removalIndex);
    expect(cluster.role('n1')).toBe('leader');
    replicateTo('n1', ['n3']);
    expect(cluster.context('n1').commitIndex).toBe(removalIndex);
    expect(cluster.role('n1')).toBe('follower');
    cluster.timeout('n1');
    expect(cluster.role('n1')).toBe('follower');
    // The rest elect a leader between them.
    cluster.take();
    cluster.elect('n2');
    expect(cluster.context('n2').voters).toEqual(['n2', 'n3']);
    // Reference: dissertation section 4.2.2
  });
});
