import { afterEach, describe, expect, it } from 'vitest';
import { stateShown } from '../../src/cluster/local-cluster.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import { ClusterPool, command, commit, waitFor, waitForApplied, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

describe('LocalCluster.inspect (the worker status with detail)', () => {
  it("reports a leader's states, log tail, per-follower progress and its durable log", async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, fsync: false });
    await commit(cluster, command('a'));
    const last = await commit(cluster, command('b'));
    await waitForApplied(checker, cluster.nodeIds, last.index);
    const leader = await waitForLeader(cluster);
    // Leadership may move between the two calls on a busy machine: wait for a consistent view.
    const inspected = await waitFor('a leader inspected while it leads', async () => {
      const node = await cluster.inspect(leader.id, { logTailMax: 2 });
      return node.role === 'leader' && node.commitIndex >= last.index ? node : undefined;
    });
    const detail = inspected.detail;
    expect(detail?.statePaths).toEqual(['leader.replicating.beating', 'leader.snapshots.idle', 'leader.transfer.idle']);
    expect(detail?.logTail).toEqual([
      { index: inspected.lastLogIndex - 1, term: expect.any(Number) },
      { index: inspected.lastLogIndex, term: inspected.lastLogTerm },
    ]);
    expect(Object.keys(detail?.progress ?? {}).sort()).toEqual(cluster.nodeIds.filter((id) => id !== leader.id));
    for (const p of Object.values(detail?.progress ?? {})) {
      expect(p.matchIndex).toBeGreaterThanOrEqual(last.index);
      expect(p.nextIndex).toBe(p.matchIndex + 1);
    }
    expect(detail?.durableLog.statePaths.length).toBe(1);
    expect(detail?.durableLog.syncedSeq).toBeGreaterThan(0);
    expect(detail?.durableLog.confirmations).toBeGreaterThan(0);
    expect(detail?.electionTimeoutMs).toBeGreaterThanOrEqual(150);
  });

  it('reports no progress for a follower, no detail for a crashed server, and refuses a bad logTailMax', async () => {
    const { cluster } = await pool.start({ nodes: 3, fsync: false });
    const leader = await waitForLeader(cluster);
    const followerId = cluster.nodeIds.find((id) => id !== leader.id) ?? 'n1';
    const follower = await cluster.inspect(followerId);
    expect(follower.detail?.progress).toBeNull();
    expect(follower).toMatchObject({ alive: true, failed: false });
    expect(follower.detail?.statePaths[0]).toMatch(/^(follower|candidate)/);
    await cluster.crash(followerId);
    const crashed = await cluster.inspect(followerId);
    expect(crashed).toMatchObject({ alive: false, failed: false });
    expect(stateShown(crashed)).toBe('down');
    expect(crashed.detail).toBeNull();
    for (const logTailMax of [-1, 201, 1.5]) {
      await expect(cluster.inspect(leader.id, { logTailMax })).rejects.toSatisfy((error) => hasErrorCode(error, 'InvalidOptions'));
    }
    await expect(cluster.inspect('n9')).rejects.toSatisfy((error) => hasErrorCode(error, 'UnknownNode'));
  });
});

describe('stateShown', () => {
  it('calls a stopped worker down, a fail-stopped server failed whatever role it reports, and else the role', () => {
    expect(stateShown({ alive: false, failed: false, role: 'leader' })).toBe('down');
    expect(stateShown({ alive: true, failed: true, role: 'follower' })).toBe('failed');
    expect(stateShown({ alive: true, failed: false, role: 'candidate' })).toBe('candidate');
  });
});
