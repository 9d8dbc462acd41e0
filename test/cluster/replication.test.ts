import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterPool, command, commit, currentLeader, statuses, waitFor, waitForApplied, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

describe('LocalCluster replication', () => {
  it('agrees with a follower down, and the follower catches up after restart (§5.3)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const leader = await waitForLeader(cluster);
    const follower = cluster.nodeIds.find((id) => id !== leader.id) as string;
    await cluster.crash(follower);
    const up = cluster.nodeIds.filter((id) => id !== follower);
    let last = 0;
    for (let i = 0; i < 10; i++) last = (await commit(cluster, command(`c${i}`), up)).index;
    await waitForApplied(checker, up, last);
    checker.reset(follower);
    await cluster.restart(follower);
    await waitForApplied(checker, cluster.nodeIds, last);
    const expected = Array.from({ length: 10 }, (_, i) => `c${i}`);
    for (const id of cluster.nodeIds) expect(checker.commandsOf(id)).toEqual(expected);
    expect(checker.violations).toEqual([]);
  });

  it('replaces the uncommitted entries of a cut-off old leader when it rejoins (§5.3, Figure 7)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const old = await waitForLeader(cluster);
    await commit(cluster, command('shared'));
    cluster.network.disconnect(old.id);
    // The model change reaches each worker's sender on its network port, the proposals on the client
    // port: with no order between the two, let the cut arrive first, or the orphans could go out.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const orphans = await Promise.all([0, 1, 2].map((i) => cluster.propose(old.id, command(`orphan${i}`))));
    expect(orphans.every((r) => r.isLeader)).toBe(true);
    const rest = cluster.nodeIds.filter((id) => id !== old.id);
    await waitForLeader(cluster, rest);
    let last = 0;
    for (let i = 0; i < 5; i++) last = (await commit(cluster, command(`new${i}`), rest)).index;
    cluster.network.connect(old.id);
    await waitForApplied(checker, cluster.nodeIds, last);
    const oldStatus = await cluster.status(old.id);
    expect(oldStatus.role).toBe('follower');
    expect(oldStatus.term).toBeGreaterThan(old.term);
    for (const id of cluster.nodeIds) {
      expect(checker.commandsOf(id)).toEqual(['shared', 'new0', 'new1', 'new2', 'new3', 'new4']);
    }
    expect(checker.violations).toEqual([]);
  });

  it('keeps every committed entry across a crash and restart of every server (§5.5, Figure 2 persistent state)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    let last = 0;
    for (let i = 0; i < 8; i++) last = (await commit(cluster, command(`p${i}`))).index;
    await waitForApplied(checker, cluster.nodeIds, last);
    const before = await statuses(cluster);
    for (const id of cluster.nodeIds) await cluster.crash(id);
    for (const id of cluster.nodeIds) checker.reset(id);
    await Promise.all(cluster.nodeIds.map((id) => cluster.restart(id)));
    const after = await statuses(cluster);
    after.forEach((s, i) => {
      expect(s.term).toBeGreaterThanOrEqual(before[i].term);
      expect(s.lastLogIndex).toBeGreaterThanOrEqual(last);
    });
    const next = await commit(cluster, command('after restart'));
    await waitForApplied(checker, cluster.nodeIds, next.index);
    const expected = [...Array.from({ length: 8 }, (_, i) => `p${i}`), 'after restart'];
    for (const id of cluster.nodeIds) expect(checker.commandsOf(id)).toEqual(expected);
    expect(checker.violations).toEqual([]);
  });

  it('agrees on an unreliable network with long reordering (§5.5)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    await waitForLeader(cluster);
    cluster.network.setReliable(false);
    cluster.network.setLongReordering(true);
    const expected: string[] = [];
    let last = 0;
    for (let i = 0; i < 15; i++) {
      const cmd = `u${i}`;
      last = (await commit(cluster, command(cmd), cluster.nodeIds, 30_000)).index;
      expected.push(cmd);
    }
    cluster.network.setReliable(true);
    cluster.network.setLongReordering(false);
    const stats = cluster.network.stats();
    expect(stats.dropped).toBeGreaterThan(0);
    await waitForApplied(checker, cluster.nodeIds, last, 20_000);
    // A retried commit may apply twice (its first try committed after all); order and agreement hold.
    for (const id of cluster.nodeIds) {
      const applied = checker.commandsOf(id).filter((c, i, all) => all.indexOf(c) === i);
      expect(applied).toEqual(expected);
    }
    expect(checker.violations).toEqual([]);
  });

  it('stays safe and live through a churn of crashes, restarts and partitions while proposing', async () => {
    const { cluster, checker } = await pool.start({ nodes: 5, seed: 7 });
    await waitForLeader(cluster);
    let proposing = true;
    let proposed = 0;
    const proposer = (async () => {
      while (proposing) {
        const leader = await currentLeader(cluster).catch(() => undefined);
        if (leader !== undefined) {
          await Promise.all(Array.from({ length: 20 }, () => cluster.propose(leader.id, command(`x${proposed++}`)))).catch(() => undefined);
        }
        await sleep(20);
      }
    })();
    const ids = cluster.nodeIds;
    const steps: (() => Promise<void> | void)[] = [
      () => cluster.crash('n1'),
      () => cluster.network.partition([['n2', 'n3'], ['n4', 'n5', 'n1']]),
      async () => {
        checker.reset('n1');
        await cluster.restart('n1');
      },
      () => cluster.network.heal(),
      () => cluster.crash('n4'),
      () => cluster.network.partition([['n1', 'n2', 'n3'], ['n5']]),
      async () => {
        checker.reset('n4');
        await cluster.restart('n4');
      },
      () => cluster.network.heal(),
    ];
    for (const step of steps) {
      await step();
      await sleep(400);
    }
    proposing = false;
    await proposer;
    const final = await commit(cluster, command('final'), ids, 20_000);
    await waitForApplied(checker, ids, final.index, 20_000);
    expect(proposed).toBeGreaterThan(0);
    const reference = checker.commandsOf('n2');
    for (const id of ids) {
      if (id === 'n1' || id === 'n4') continue;
      expect(checker.commandsOf(id)).toEqual(reference);
    }
    expect(checker.violations).toEqual([]);
    expect(cluster.workerErrors).toEqual([]);
    await waitFor('every server to report the final index', async () => (await statuses(cluster)).every((s) => s.lastApplied >= final.index));
  });
});
