import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeKeyValueCommand } from '../../src/host/key-value-store.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import { ClusterPool, commit, statuses, waitFor, waitForApplied, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

const set = (key: string, value: unknown) => encodeKeyValueCommand({ op: 'set', key, value });
const get = (key: string) => encodeKeyValueCommand({ op: 'get', key });

/** Commits `count` sets of keys k0…k9 (values i) and returns the last index. */
async function commitSets(cluster: LocalCluster, count: number, ids = cluster.nodeIds): Promise<number> {
  let last = 0;
  for (let i = 0; i < count; i++) last = (await commit(cluster, set(`k${i % 10}`, i), ids)).index;
  return last;
}

describe('LocalCluster snapshots and log compaction (§7)', () => {
  it('snapshots every snapshotEvery applied entries and compacts, keeping snapshotKeepEntries behind; status and files say so', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, snapshotEvery: 20, snapshotKeepEntries: 5 });
    const last = await commitSets(cluster, 60);
    await waitForApplied(checker, cluster.nodeIds, last);
    const all = await waitFor('every server to snapshot', async () => {
      const now = await statuses(cluster);
      return now.every((s) => s.snapshotIndex >= 40) && now;
    });
    for (const s of all) {
      expect(s.snapshots).toBe('on');
      // snapshotKeepEntries (5) behind its own snapshot; a follower that fell further behind was sent the leader's, and keeps none.
      expect(s.firstLogIndex).toBeGreaterThanOrEqual(s.snapshotIndex - 5 + 1);
      expect(s.firstLogIndex).toBeLessThanOrEqual(s.snapshotIndex + 1);
      const files = await readdir(join(cluster.dataDir, s.id));
      expect(files.filter((name) => name.endsWith('.snap')).length).toBeGreaterThanOrEqual(1);
      expect(files.filter((name) => name.endsWith('.snap')).length).toBeLessThanOrEqual(2);
    }
    expect(checker.violations).toEqual([]);
  });

  it('takes a snapshot on request: snapshot(id) resolves its index and term once durable', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, snapshotEvery: 0 });
    const last = await commitSets(cluster, 5);
    const leader = await waitForLeader(cluster);
    await waitForApplied(checker, [leader.id], last);
    const taken = await cluster.snapshot(leader.id);
    expect(taken.index).toBeGreaterThanOrEqual(last);
    expect(taken.term).toBe(leader.term);
    const status = await cluster.status(leader.id);
    expect({ snapshotIndex: status.snapshotIndex, snapshots: status.snapshots }).toEqual({ snapshotIndex: taken.index, snapshots: 'manual' });
    expect(await cluster.snapshot(leader.id)).toEqual(taken);
  });

  it('sends a follower that was down the snapshot, and it catches up from it (InstallSnapshot, Figure 13)', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, snapshotEvery: 10, snapshotKeepEntries: 0 });
    const leader = await waitForLeader(cluster);
    const follower = cluster.nodeIds.find((id) => id !== leader.id) as string;
    await cluster.crash(follower);
    const up = cluster.nodeIds.filter((id) => id !== follower);
    const last = await commitSets(cluster, 40, up);
    await waitForApplied(checker, up, last);
    await waitFor('the leader to compact', async () => (await cluster.status(leader.id)).firstLogIndex > 1);
    // Its own folder holds nothing the leader still has: only the snapshot can bring it back.
    checker.reset(follower);
    await cluster.restart(follower);
    await waitForApplied(checker, [follower], last);
    expect(checker.restoresOf(follower).length).toBeGreaterThanOrEqual(1);
    const stats = cluster.network.stats().byType['rpc.installSnapshot'];
    expect(stats?.messages).toBeGreaterThanOrEqual(1);
    expect(stats?.bytes).toBeGreaterThan(0);
    const next = await commit(cluster, set('after', 'install'));
    await waitForApplied(checker, cluster.nodeIds, next.index);
    expect(checker.commandsOf(follower).at(-1)).toContain('after');
    expect(checker.violations).toEqual([]);
  });

  it('restarts a whole cluster from its snapshots: state restored, log replayed from the snapshot, nothing lost', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'raftchart-snapshots-'));
    try {
      const first = await pool.start({ nodes: 3, dataDir, snapshotEvery: 15, snapshotKeepEntries: 0 });
      const last = await commitSets(first.cluster, 50);
      await waitForApplied(first.checker, first.cluster.nodeIds, last);
      await waitFor('snapshots everywhere', async () => (await statuses(first.cluster)).every((s) => s.snapshotIndex >= 30));
      await first.cluster.stop();
      const { cluster, checker } = await pool.start({ nodes: 3, dataDir, snapshotEvery: 15, snapshotKeepEntries: 0 });
      await waitFor('every server to restore its snapshot', () => cluster.nodeIds.every((id) => checker.restoresOf(id).length > 0));
      for (const id of cluster.nodeIds) expect(checker.restoresOf(id)[0]).toBeGreaterThanOrEqual(30);
      const read = await commit(cluster, get('k9'));
      expect(read.result).toEqual({ ok: true, value: 49 });
      await cluster.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('says a state machine without snapshot() cannot be compacted, and refuses snapshot(id) with InvalidOptions', async () => {
    const { cluster } = await pool.start({ nodes: 1, stateMachine: new URL('./fixtures/counter-state-machine.ts', import.meta.url) });
    await waitForLeader(cluster);
    expect((await cluster.status('n1')).snapshots).toBe('unsupported');
    const error = await cluster.snapshot('n1').catch((e: unknown) => e);
    expect(hasErrorCode(error, 'InvalidOptions')).toBe(true);
    expect(String((error as Error).message)).toMatch(/snapshot\(\) and restore\(\)/);
  });

  it('refuses bad snapshot options and calls with coded errors, and keeps running', async () => {
    for (const snapshotEvery of [-1, 1.5, Number.NaN]) {
      const error = await LocalCluster.start({ nodes: 1, snapshotEvery }).catch((e: unknown) => e);
      expect(hasErrorCode(error, 'InvalidOptions'), String(snapshotEvery)).toBe(true);
      expect((error as { details: { option: string } }).details.option).toBe('snapshotEvery');
    }
    const bad = await LocalCluster.start({ nodes: 1, snapshotKeepEntries: -3 }).catch((e: unknown) => e);
    expect(hasErrorCode(bad, 'InvalidOptions')).toBe(true);
    const { cluster } = await pool.start({ nodes: 3 });
    await waitForLeader(cluster);
    expect(hasErrorCode(await cluster.snapshot('n9').catch((e: unknown) => e), 'UnknownNode')).toBe(true);
    await cluster.crash('n2');
    expect(hasErrorCode(await cluster.snapshot('n2').catch((e: unknown) => e), 'Stopped')).toBe(true);
    await commit(cluster, set('still', 'running'), ['n1', 'n3']);
    await cluster.stop();
    expect(hasErrorCode(await cluster.snapshot('n1').catch((e: unknown) => e), 'Stopped')).toBe(true);
  });
});
