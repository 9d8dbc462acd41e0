import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster, RaftchartError, encodeKeyValueCommand } from '../../src/index.ts';
import { ClusterPool, command, commit, waitFor, waitForApplied, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(RaftchartError);
    expect((error as Error).message.length).toBeGreaterThan(20);
    return (error as RaftchartError).code;
  }
  return undefined;
}

describe('LocalCluster API', () => {
  it('refuses bad input with a RaftchartError code and keeps running', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const leader = await waitForLeader(cluster);
    expect(await codeOf(() => cluster.propose(leader.id, 'text' as unknown as Uint8Array))).toBe('InvalidCommand');
    expect(await codeOf(() => cluster.propose(leader.id, new Uint8Array((1 << 20) + 1)))).toBe('CommandTooLarge');
    expect(await codeOf(() => cluster.propose('n9', command('x')))).toBe('UnknownNode');
    expect(await codeOf(() => cluster.status('nope'))).toBe('UnknownNode');
    expect(await codeOf(() => cluster.crash('n0'))).toBe('UnknownNode');
    expect(await codeOf(() => cluster.network.partition([['n1'], ['n1', 'n2']]))).toBe('InvalidOptions');
    // A command of exactly 1 MiB is fine.
    const big = await commit(cluster, new Uint8Array(1 << 20));
    const kv = await commit(cluster, encodeKeyValueCommand({ op: 'set', key: 'k', value: 42 }));
    expect(kv.result).toEqual({ ok: true, previous: null });
    const get = await commit(cluster, encodeKeyValueCommand({ op: 'get', key: 'k' }));
    expect(get.result).toEqual({ ok: true, value: 42 });
    await waitForApplied(checker, cluster.nodeIds, get.index);
    expect(big.index).toBeLessThan(kv.index);
    expect(checker.violations).toEqual([]);
    await cluster.stop();
    expect(await codeOf(() => cluster.propose(leader.id, command('late')))).toBe('Stopped');
    expect(await codeOf(() => cluster.status(leader.id))).toBe('Stopped');
    expect(await codeOf(() => cluster.restart(leader.id))).toBe('Stopped');
  });

  it('rejects proposeAndWait with Timeout when the leader cannot reach a majority', async () => {
    const { cluster } = await pool.start({ nodes: 3 });
    const leader = await waitForLeader(cluster);
    await cluster.network.partition([[leader.id], cluster.nodeIds.filter((id) => id !== leader.id)]);
    expect(await codeOf(() => cluster.proposeAndWait(leader.id, command('alone'), { timeoutMs: 300 }))).toBe('Timeout');
    await cluster.network.heal();
  });

  it('refuses bad options with InvalidOptions naming the option', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ nodes: 0 }, 'nodes'],
      [{ nodes: 10 }, 'nodes'],
      [{ nodes: 3, electionTimeoutMs: [300, 150] }, 'electionTimeoutMs'],
      [{ nodes: 3, electionTimeoutMs: [150] }, 'electionTimeoutMs'],
      [{ nodes: 3, heartbeatIntervalMs: 100 }, 'heartbeatIntervalMs'],
      [{ nodes: 3, fsync: 'yes' }, 'fsync'],
      [{ nodes: 3, dataDir: '' }, 'dataDir'],
    ];
    for (const [options, option] of cases) {
      const error = await LocalCluster.start(options as never).then(
        () => null,
        (e: unknown) => e as RaftchartError,
      );
      expect(error?.code, JSON.stringify(options)).toBe('InvalidOptions');
      expect(error?.message).toContain(option);
    }
  });

  it('drops and counts a malformed message at the worker boundary, and the server keeps working', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    const leader = await waitForLeader(cluster);
    const target = cluster.nodeIds.find((id) => id !== leader.id) as string;
    const before = await cluster.workerCounters(target);
    const valid = { type: 'rpc.requestVote', from: leader.id, to: target, term: 0, lastLogIndex: 0, lastLogTerm: 0 };
    cluster.injectRaw(target, [
      null,
      { ...valid, lastLogIndex: -1 },
      { ...valid, type: 'rpc.nonsense' },
      { ...valid, to: 'n7' },
      { type: 'rpc.appendEntries', from: leader.id, to: target, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: { count: 2 } },
      { type: 'rpc.appendEntries', from: leader.id, to: target, term: 1, prevLogIndex: -5, prevLogTerm: 0, leaderCommit: 0, entries: [] },
    ]);
    cluster.injectRaw(target, 'not a batch');
    const after = await waitFor('the drops to be counted', async () => {
      const counters = await cluster.workerCounters(target);
      return counters.malformedDropped - before.malformedDropped >= 7 ? counters : undefined;
    });
    expect(after.malformedDropped - before.malformedDropped).toBe(7);
    expect((await cluster.status(target)).alive).toBe(true);
    const next = await commit(cluster, command('still fine'));
    await waitForApplied(checker, cluster.nodeIds, next.index);
    expect(checker.violations).toEqual([]);
    expect(cluster.workerErrors).toEqual([]);
  });

  it('applies committed entries to a pluggable state machine and answers proposeAndWait with its result', async () => {
    const stateMachine = new URL('./fixtures/counter-state-machine.ts', import.meta.url);
    const { cluster, checker } = await pool.start({ nodes: 1, stateMachine, fsync: false });
    const leader = await waitForLeader(cluster);
    const first = await cluster.proposeAndWait(leader.id, command('abc'));
    const second = await cluster.proposeAndWait(leader.id, command('de'));
    expect(first.result).toEqual({ nodeId: 'n1', total: 3 });
    expect(second.result).toEqual({ nodeId: 'n1', total: 5 });
    const missing = await LocalCluster.start({ nodes: 1, stateMachine: new URL('./fixtures/no-such-module.ts', import.meta.url) }).then(
      () => null,
      (e: unknown) => e as RaftchartError,
    );
    expect(missing?.code).toBe('InvalidOptions');
    expect(missing?.message).toContain('stateMachine');
    const third = await cluster.propose(leader.id, command('f'));
    expect(third).toMatchObject({ isLeader: true, index: second.index + 1, term: second.term });
    expect(checker.violations).toEqual([]);
  });

  it('turns the proposals of one event-loop turn into one client.propose event with consecutive indexes', async () => {
    const { cluster, checker } = await pool.start({ nodes: 1, fsync: false });
    const leader = await waitForLeader(cluster);
    const before = await cluster.workerCounters(leader.id);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => cluster.propose(leader.id, command(`b${i}`))));
    const after = await cluster.workerCounters(leader.id);
    expect(after.proposeEvents - before.proposeEvents).toBe(1);
    expect(after.proposalsReceived - before.proposalsReceived).toBe(50);
    // The worker's own thread: its CPU time only grows, and its GC pauses are a sum, never negative.
    expect(after.threadCpuMicros).toBeGreaterThan(0);
    expect(after.threadCpuMicros).toBeGreaterThanOrEqual(before.threadCpuMicros ?? 0);
    expect(after.gcPauseMs).toBeGreaterThanOrEqual(before.gcPauseMs);
    expect(results.map((r) => r.index)).toEqual(results.map((_, i) => results[0].index + i));
    await waitForApplied(checker, [leader.id], results[49].index);
    expect(checker.commandsOf(leader.id)).toEqual(results.map((_, i) => `b${i}`));
    expect(checker.violations).toEqual([]);
  });

  it('refuses a data folder in use (LogLocked) and reopens it after stop() with every committed entry', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'raftchart-test-'));
    try {
      const first = await pool.start({ nodes: 3, dataDir });
      const committed: string[] = [];
      for (let i = 0; i < 3; i++) {
        await commit(first.cluster, command(`keep${i}`));
        committed.push(`keep${i}`);
      }
      const locked = await LocalCluster.start({ nodes: 3, dataDir }).then(
        () => null,
        (e: unknown) => e as RaftchartError,
      );
      expect(locked?.code).toBe('LogLocked');
      await commit(first.cluster, command('still running'));
      committed.push('still running');
      await pool.stopAll();
      const second = await pool.start({ nodes: 3, dataDir });
      const next = await commit(second.cluster, command('second life'));
      await waitForApplied(second.checker, second.cluster.nodeIds, next.index);
      for (const id of second.cluster.nodeIds) expect(second.checker.commandsOf(id)).toEqual([...committed, 'second life']);
      expect(second.checker.violations).toEqual([]);
    } finally {
      await pool.stopAll();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
