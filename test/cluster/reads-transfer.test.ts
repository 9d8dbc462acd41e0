import { afterEach, describe, expect, it } from 'vitest';
import { encodeKeyValueCommand } from '../../src/index.ts';
import { ClusterPool, commit, statuses, waitFor, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

const set = (key: string, value: unknown) => encodeKeyValueCommand({ op: 'set', key, value });
const get = (key: string) => encodeKeyValueCommand({ op: 'get', key });

describe('LocalCluster.read (ReadIndex and lease reads, dissertation §6.4)', () => {
  for (const readMode of ['readIndex', 'lease'] as const) {
    it(`reads what was committed before, with no log entry (${readMode})`, async () => {
      const { cluster } = await pool.start({ nodes: 3, readMode });
      const written = await commit(cluster, set('k', 'v1'));
      const leader = await waitForLeader(cluster);
      const before = await cluster.status(leader.id);
      const reads = await Promise.all(Array.from({ length: 20 }, () => cluster.read(leader.id, get('k'))));
      for (const read of reads) {
        expect(read.result).toEqual({ ok: true, value: 'v1' });
        expect(read.index).toBeGreaterThanOrEqual(written.index);
      }
      expect((await cluster.status(leader.id)).lastLogIndex).toBe(before.lastLogIndex);
      // The store's query runs gets only.
      expect((await cluster.read(leader.id, set('k', 'no'))).result).toMatchObject({ ok: false });
      expect((await cluster.read(leader.id, get('k'))).result).toEqual({ ok: true, value: 'v1' });
    });
  }

  it('refuses a read on a follower with NotLeader naming the leader, and bad input with a code', async () => {
    const { cluster } = await pool.start({ nodes: 3 });
    await commit(cluster, set('k', 1));
    const leader = await waitForLeader(cluster);
    const follower = (await statuses(cluster)).find((s) => s.role === 'follower' && s.leaderId === leader.id);
    expect(follower).toBeDefined();
    await expect(cluster.read(follower!.id, get('k'))).rejects.toMatchObject({ code: 'NotLeader', details: { leaderId: leader.id } });
    await expect(cluster.read('n9', get('k'))).rejects.toMatchObject({ code: 'UnknownNode' });
    await expect(cluster.read(leader.id, 'k' as unknown as Uint8Array)).rejects.toMatchObject({ code: 'InvalidCommand' });
    await expect(cluster.read(leader.id, get('k'), { timeoutMs: -1 })).rejects.toMatchObject({ code: 'InvalidOptions' });
    // The cluster kept serving.
    expect((await cluster.read(leader.id, get('k'))).result).toEqual({ ok: true, value: 1 });
  });

  it('answers no read from a leader cut off from the majority: NotLeader once it steps down, or Timeout', async () => {
    const { cluster } = await pool.start({ nodes: 3, fsync: false });
    await commit(cluster, set('k', 'old'));
    const leader = await waitForLeader(cluster);
    cluster.network.disconnect(leader.id);
    const outcome = await cluster.read(leader.id, get('k'), { timeoutMs: 1000 }).then(
      () => 'answered',
      (error: { code: string }) => error.code,
    );
    expect(['NotLeader', 'Timeout']).toContain(outcome);
    cluster.network.connect(leader.id);
  });
});

describe('LocalCluster.transferLeadership (dissertation §3.10)', () => {
  it('hands leadership to the server named, which then serves reads and writes', async () => {
    const { cluster } = await pool.start({ nodes: 3 });
    await commit(cluster, set('k', 'before'));
    const leader = await waitForLeader(cluster);
    const to = cluster.nodeIds.find((id) => id !== leader.id)!;
    const status = await cluster.transferLeadership(leader.id, to);
    expect(status).toMatchObject({ id: to, role: 'leader' });
    expect(status.term).toBeGreaterThan(leader.term);
    expect((await cluster.status(leader.id)).role).not.toBe('leader');
    const written = await cluster.proposeAndWait(to, set('k', 'after'));
    expect(written.term).toBe(status.term);
    expect((await cluster.read(to, get('k'))).result).toEqual({ ok: true, value: 'after' });
    // To itself: it leads already.
    expect(await cluster.transferLeadership(to, to)).toMatchObject({ id: to, role: 'leader' });
  });

  it('rejects a transfer with a code: from a follower, to an unknown or crashed server, or one that never takes over', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, fsync: false });
    await commit(cluster, set('k', 1));
    const leader = await waitForLeader(cluster);
    const [a, b] = cluster.nodeIds.filter((id) => id !== leader.id);
    await expect(cluster.transferLeadership(a, b)).rejects.toMatchObject({ code: 'NotLeader', details: { leaderId: leader.id } });
    await expect(cluster.transferLeadership(leader.id, 'n9')).rejects.toMatchObject({ code: 'UnknownNode' });
    await cluster.crash(b);
    await expect(cluster.transferLeadership(leader.id, b)).rejects.toMatchObject({ code: 'Stopped' });
    // `a` cannot hear the leader: it never catches up nor gets TimeoutNow; after an election timeout the leader resumes.
    checker.reset(b);
    await cluster.restart(b);
    cluster.network.partition([[leader.id, b], [a]]);
    await expect(cluster.transferLeadership(leader.id, a)).rejects.toMatchObject({ code: 'Timeout' });
    const resumed = await waitFor('the leader to take proposals again', async () => {
      const status = await cluster.status(leader.id);
      if (status.role !== 'leader') return undefined;
      return (await cluster.propose(leader.id, set('k', 2))).isLeader ? status : undefined;
    });
    expect(resumed.term).toBe(leader.term);
    cluster.network.heal();
  });
});
