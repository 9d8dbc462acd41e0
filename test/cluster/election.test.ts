import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterPool, command, commit, currentLeader, statuses, waitForApplied, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

describe('LocalCluster elections', () => {
  it('elects one leader that every server follows (§5.2)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const leader = await waitForLeader(cluster);
    await commit(cluster, command('first'));
    const all = await statuses(cluster);
    const leaders = all.filter((s) => s.role === 'leader' && s.term === leader.term);
    expect(leaders).toHaveLength(1);
    await waitForApplied(checker, cluster.nodeIds, 2);
    expect(checker.violations).toEqual([]);
    expect(cluster.workerErrors).toEqual([]);
  });

  it('elects a new leader in a higher term after the leader crashes (§5.2)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const old = await waitForLeader(cluster);
    await commit(cluster, command('before'));
    await cluster.crash(old.id);
    const appliedAtCrash = checker.applied(old.id);
    const crashed = await cluster.status(old.id);
    expect(crashed).toMatchObject({ alive: false, role: 'follower', term: old.term });
    const rest = cluster.nodeIds.filter((id) => id !== old.id);
    const next = await waitForLeader(cluster, rest);
    expect(next.term).toBeGreaterThan(old.term);
    const after = await commit(cluster, command('after'), rest);
    await waitForApplied(checker, rest, after.index);
    expect(checker.commandsOf(rest[0])).toEqual(['before', 'after']);
    // Once crash() resolved, nothing more came from the crashed server.
    expect(checker.applied(old.id)).toBe(appliedAtCrash);
    expect(await cluster.propose(old.id, command('to the dead'))).toMatchObject({ isLeader: false });
    expect(checker.violations).toEqual([]);
  });

  it('elects no leader and commits nothing without a majority (§5.2, §5.4)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const first = await commit(cluster, command('one'));
    cluster.network.partition([['n1'], ['n2'], ['n3']]);
    const cut = await statuses(cluster);
    const termCut = Math.max(...cut.map((s) => s.term));
    await sleep(1500);
    const during = await statuses(cluster);
    // Candidates keep raising their terms, but none can win a term above the one at the cut.
    expect(during.filter((s) => s.role === 'leader' && s.term > termCut)).toEqual([]);
    expect(Math.max(...during.map((s) => s.commitIndex))).toBe(first.index);
    const stale = await currentLeader(cluster);
    expect(stale).toBeUndefined();
    cluster.network.heal();
    const healed = await commit(cluster, command('two'));
    expect(healed.index).toBeGreaterThan(first.index);
    await waitForApplied(checker, cluster.nodeIds, healed.index);
    expect(checker.violations).toEqual([]);
  });

  it('makes a leader cut off from the majority step down (CheckQuorum), and keep leading with checkQuorum off', async () => {
    for (const checkQuorum of [true, false]) {
      const { cluster } = await pool.start({ nodes: 3, fsync: false, checkQuorum });
      await commit(cluster, command('one'));
      const leader = await waitForLeader(cluster);
      cluster.network.disconnect(leader.id);
      // A minimum election timeout (150 ms) and a heartbeat at most, with room for a busy machine.
      await sleep(1000);
      const status = await cluster.status(leader.id);
      // Stepped down, it times out again and asks for pre-votes it cannot get: follower or pre-candidate, no leader known, and its term kept (§9.6).
      if (checkQuorum) expect(status).toMatchObject({ role: expect.stringMatching(/^(follower|preCandidate)$/), leaderId: null, term: leader.term });
      else expect(status).toMatchObject({ role: 'leader', term: leader.term });
      expect((await cluster.propose(leader.id, command('cut off'))).isLeader).toBe(!checkQuorum);
      await pool.stopAll();
    }
  });
});
