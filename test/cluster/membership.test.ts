import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { encodeKeyValueCommand, LocalCluster, type AppliedEntry } from '../../src/index.ts';
import { ClusterPool, commit, statuses, waitFor, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

const set = (key: string, value: unknown) => encodeKeyValueCommand({ op: 'set', key, value });
const get = (key: string) => encodeKeyValueCommand({ op: 'get', key });

describe('membership changes (dissertation ch. 4)', () => {
  it('adds a learner that gets the log and votes in nothing, promotes it, and every server sees the new configuration', async () => {
    const { cluster } = await pool.start({ nodes: 3 });
    const configs: AppliedEntry[] = [];
    cluster.onApply((entry) => {
      if (entry.kind === 'config') configs.push(entry);
    });
    for (let i = 0; i < 20; i++) await commit(cluster, set(`k${i}`, i));
    const added = await cluster.addLearner('n4');
    expect(added).toMatchObject({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    expect(cluster.nodeIds).toEqual(['n1', 'n2', 'n3', 'n4']);
    // The learner catches up on the log (and on what comes after), and never stands.
    const last = await commit(cluster, set('after', 1));
    await waitFor('n4 to apply the log', async () => (await cluster.status('n4')).lastApplied >= last.index);
    const n4 = await cluster.status('n4');
    expect(n4).toMatchObject({ role: 'follower', voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    const promoted = await cluster.promote('n4');
    expect(promoted).toMatchObject({ voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    await waitFor('every server to hold the promotion', async () => (await statuses(cluster)).every((s) => s.voters.length === 4));
    // Applied config entries carry the configuration they put in force.
    await waitFor('config entries applied', () => configs.some((entry) => entry.nodeId === 'n4' && entry.configuration?.voters.includes('n4')));
    expect(configs.find((entry) => entry.index === promoted.index)?.configuration).toEqual({ voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    // With four voters, a majority is three: two down stop commits, one down does not.
    await cluster.crash('n1');
    await commit(cluster, set('three-of-four', 1), ['n2', 'n3', 'n4']);
  });

  it('removes the leader: it commits its own removal without counting itself, steps down and is stopped; the rest elect and serve', async () => {
    const { cluster } = await pool.start({ nodes: 3, dataDir: await mkdtemp(join(tmpdir(), 'raftchart-membership-')) });
    const dataDir = cluster.dataDir;
    await commit(cluster, set('a', 1));
    const leader = await waitForLeader(cluster);
    const result = await cluster.removeServer(leader.id);
    expect(result.voters).toHaveLength(2);
    expect(result.voters).not.toContain(leader.id);
    expect(cluster.nodeIds).not.toContain(leader.id);
    await expect(cluster.status(leader.id)).rejects.toMatchObject({ code: 'UnknownNode' });
    // Its folder stays until stop().
    expect(existsSync(join(dataDir, leader.id))).toBe(true);
    const next = await waitForLeader(cluster);
    expect(next.id).not.toBe(leader.id);
    expect((await commit(cluster, set('b', 2))).index).toBeGreaterThan(result.index);
    expect((await cluster.read(next.id, get('a'))).result).toEqual({ ok: true, value: 1 });
    for (const s of await statuses(cluster)) expect(s.voters).toEqual(result.voters);
    await cluster.stop();
    expect(existsSync(join(dataDir, leader.id))).toBe(false);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses bad changes with a code and changes nothing', async () => {
    // No CheckQuorum and long election timeouts: leadership stays put while the network below holds every message.
    const { cluster } = await pool.start({ nodes: 3, checkQuorum: false, electionTimeoutMs: [3000, 6000] });
    await commit(cluster, set('a', 1));
    const leader = await waitForLeader(cluster);
    const follower = (await statuses(cluster)).find((s) => s.role === 'follower')!;
    await expect(cluster.addLearner('n2')).rejects.toMatchObject({ code: 'InvalidOptions' });
    await expect(cluster.addLearner('bad id!')).rejects.toMatchObject({ code: 'InvalidOptions' });
    await expect(cluster.promote('n1')).rejects.toMatchObject({ code: 'InvalidOptions' });
    await expect(cluster.promote('n9')).rejects.toMatchObject({ code: 'UnknownNode' });
    await expect(cluster.removeServer('n9')).rejects.toMatchObject({ code: 'UnknownNode' });
    await expect(cluster.addLearner('n4', { via: follower.id })).rejects.toMatchObject({ code: 'NotLeader' });
    expect(cluster.nodeIds).toEqual(['n1', 'n2', 'n3']);
    // One change at a time (§4.1): while the first is uncommitted (the network holds every message), a second is refused.
    cluster.network.pause();
    const first = cluster.addLearner('n5');
    await waitFor('the first change in force on the leader', async () => (await cluster.status(leader.id)).learners.includes('n5'));
    await expect(cluster.addLearner('n6')).rejects.toMatchObject({ code: 'ConfigChangeInProgress' });
    await expect(cluster.removeServer('n3')).rejects.toMatchObject({ code: 'ConfigChangeInProgress' });
    expect(cluster.nodeIds).toEqual(['n1', 'n2', 'n3', 'n5']);
    cluster.network.resume();
    expect(await first).toMatchObject({ voters: ['n1', 'n2', 'n3'], learners: ['n5'] });
    for (const s of await statuses(cluster, ['n1', 'n2', 'n3'])) expect(s.voters).toEqual(['n1', 'n2', 'n3']);
    expect((await commit(cluster, set('still', 'serving'))).index).toBeGreaterThan(0);
  });

  it('refuses to promote a learner that lags (LearnerNotCaughtUp), and promotes it once it has caught up', async () => {
    const { cluster } = await pool.start({ nodes: 3 });
    await commit(cluster, set('a', 1));
    await cluster.addLearner('n4');
    cluster.network.disconnect('n4');
    for (let i = 0; i < 5; i++) await commit(cluster, set(`lag${i}`, i));
    await expect(cluster.promote('n4')).rejects.toMatchObject({ code: 'LearnerNotCaughtUp' });
    for (const s of await statuses(cluster, ['n1', 'n2', 'n3'])) expect(s).toMatchObject({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    cluster.network.connect('n4');
    const promoted = await waitFor('n4 to catch up and be promoted', async () => {
      try {
        return await cluster.promote('n4');
      } catch (error) {
        if ((error as { code?: string }).code === 'LearnerNotCaughtUp') return undefined;
        throw error;
      }
    });
    expect(promoted.voters).toEqual(['n1', 'n2', 'n3', 'n4']);
  });

  it('refuses to remove the last voter', async () => {
    const { cluster } = await pool.start({ nodes: 1 });
    await commit(cluster, set('a', 1));
    await expect(cluster.removeServer('n1')).rejects.toMatchObject({ code: 'InvalidOptions' });
    expect((await cluster.status('n1')).role).toBe('leader');
  });

  it('keeps the configuration across a restart of every server, from the log and from a snapshot', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'raftchart-membership-'));
    try {
      const first = await LocalCluster.start({ nodes: 3, dataDir, snapshotEvery: 0 });
      try {
        await commit(first, set('a', 1));
        await first.addLearner('n4');
        await waitFor('n4 to catch up', async () => (await first.status('n4')).lastApplied >= (await waitForLeader(first)).commitIndex);
        await first.promote('n4');
        await first.removeServer('n1');
        await commit(first, set('b', 2));
        // One server keeps its configuration in a snapshot only.
        for (const id of first.nodeIds) await first.snapshot(id);
        expect(JSON.parse(await readFile(join(dataDir, 'members.json'), 'utf8'))).toEqual({ initial: ['n1', 'n2', 'n3'], members: ['n2', 'n3', 'n4'], removed: ['n1'] });
      } finally {
        await first.stop();
      }
      // The folder's initial voters hold whatever `nodes` says now.
      const second = await LocalCluster.start({ nodes: 5, dataDir });
      try {
        // The data folder remembers who belongs: n4 added, n1 removed (its folder went at stop()).
        expect(second.nodeIds).toEqual(['n2', 'n3', 'n4']);
        for (const id of ['n2', 'n3', 'n4']) expect((await second.status(id)).voters).toEqual(['n2', 'n3', 'n4']);
        await expect(second.addLearner('n1')).rejects.toMatchObject({ code: 'InvalidOptions' });
        const value = await commit(second, get('b'), ['n2', 'n3', 'n4']);
        expect(value.result).toEqual({ ok: true, value: 2 });
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
