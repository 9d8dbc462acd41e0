import { afterEach, describe, expect, it } from 'vitest';
import { stateShown } from '../../src/cluster/local-cluster.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import { ClusterPool, command, commit, waitFor, waitForApplied, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

describe('LocalCluster.failDisk (a failing disk, fail-stop)', () => {
  it('stops a server whose disk fails, shows it as failed while the others commit, and a restart gives it a working disk', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, fsync: false, diskFaults: true });
    await commit(cluster, command('before'));
    const leader = await waitForLeader(cluster);
    const victim = cluster.nodeIds.find((id) => id !== leader.id) ?? 'n1';
    const rest = cluster.nodeIds.filter((id) => id !== victim);
    await cluster.failDisk(victim, { operation: 'write' });
    // Every AppendEntries brings it a write that fails; its durable log retries, then gives up.
    const failed = await waitFor(`${victim} to fail-stop`, async () => {
      await commit(cluster, command('during'), rest);
      const status = await cluster.status(victim);
      return status.failed ? status : undefined;
    });
    expect(stateShown(failed)).toBe('failed');
    expect(await cluster.propose(victim, command('to the failed'))).toMatchObject({ isLeader: false });
    const during = await commit(cluster, command('without it'), rest);
    await waitForApplied(checker, rest, during.index);

    await cluster.restart(victim);
    checker.reset(victim);
    const after = await commit(cluster, command('after'));
    await waitForApplied(checker, cluster.nodeIds, after.index);
    expect(await cluster.status(victim)).toMatchObject({ alive: true, failed: false });
    expect(checker.commandsOf(victim).at(-1)).toBe('after');
    expect(checker.violations).toEqual([]);
    expect(cluster.workerErrors).toEqual([]);
  });

  it('refuses to break a disk without diskFaults, or with an unknown fault, with InvalidOptions', async () => {
    const { cluster } = await pool.start({ nodes: 1, fsync: false });
    await expect(cluster.failDisk('n1')).rejects.toSatisfy((error) => hasErrorCode(error, 'InvalidOptions') && /diskFaults: true/.test((error as Error).message));
    const faulty = await pool.start({ nodes: 1, fsync: false, diskFaults: true });
    await expect(faulty.cluster.failDisk('n1', { code: 'EPERM' as 'EIO' })).rejects.toSatisfy((error) => hasErrorCode(error, 'InvalidOptions'));
    await expect(faulty.cluster.failDisk('n9')).rejects.toSatisfy((error) => hasErrorCode(error, 'UnknownNode'));
    await faulty.cluster.crash('n1');
    await expect(faulty.cluster.failDisk('n1')).rejects.toSatisfy((error) => hasErrorCode(error, 'Stopped'));
  });
});
