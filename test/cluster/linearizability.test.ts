import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeKeyValueCommand, type LocalCluster } from '../../src/index.ts';
import { checkLinearizable, type Operation } from '../../src/sim/linearizability.ts';
import { Random } from '../../src/core/random.ts';
import { ClusterPool, currentLeader, waitForLeader, type ApplyChecker } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

/** How long the nemesis runs, and each client operation's timeout. */
const nemesisMs = 6000;
const operationTimeoutMs = 500;
const keys = ['x', 'y'];

interface Recorded extends Operation {
  value: string | null;
  returnedAt: number | null;
}

/**
 * One client: one operation at a time against the server it believes leads, until `until`.
 * Writers set and get through the log (proposeAndWait); readers only read() (ReadIndex). A set
 * that fails in any way stays in the history with an unknown outcome (Jepsen's :info); a get or a
 * read that fails constrains nothing and is left out.
 */
async function runClient(cluster: LocalCluster, name: string, writer: boolean, random: Random, until: number, history: Recorded[]): Promise<void> {
  let target: string | null = null;
  let next = 1;
  while (performance.now() < until) {
    const to: string = target ?? random.pick(cluster.nodeIds);
    const key = random.pick(keys);
    const set = writer && random.chance(0.6);
    const op: Recorded = { client: name, kind: set ? 'set' : 'get', key, value: set ? `${name}${next++}` : null, invokedAt: performance.now(), returnedAt: null };
    history.push(op);
    try {
      if (set) {
        await cluster.proposeAndWait(to, encodeKeyValueCommand({ op: 'set', key, value: op.value }), { timeoutMs: operationTimeoutMs });
      } else {
        const query = encodeKeyValueCommand({ op: 'get', key });
        const answer = writer ? await cluster.proposeAndWait(to, query, { timeoutMs: operationTimeoutMs }) : await cluster.read(to, query, { timeoutMs: operationTimeoutMs });
        op.value = ((answer.result as { value?: string | null }).value ?? null) as string | null;
      }
      op.returnedAt = performance.now();
      target = to;
    } catch (error) {
      const leaderId = (error as { details?: { leaderId?: string | null } }).details?.leaderId ?? null;
      target = leaderId !== null && leaderId !== to ? leaderId : null;
      if (!set) history.splice(history.lastIndexOf(op), 1);
      await sleep(random.int(5, 30));
    }
  }
}

/** Every few hundred ms: cut the leader off, crash and restart it, make the network lossy or reordering, or heal. */
async function runNemesis(cluster: LocalCluster, checker: ApplyChecker, random: Random, until: number, log: string[]): Promise<void> {
  while (performance.now() < until) {
    await sleep(random.int(300, 700));
    const leader = await currentLeader(cluster);
    const choice = random.int(0, 4);
    if (choice === 0 && leader !== undefined) {
      cluster.network.partition([[leader.id], cluster.nodeIds.filter((id) => id !== leader.id)]);
      log.push(`isolate ${leader.id}`);
    } else if (choice === 1 && leader !== undefined) {
      await cluster.crash(leader.id);
      log.push(`crash ${leader.id}`);
      await sleep(random.int(100, 400));
      checker.reset(leader.id);
      await cluster.restart(leader.id);
      log.push(`restart ${leader.id}`);
    } else if (choice === 2) {
      cluster.network.setReliable(false);
      cluster.network.setLongReordering(true);
      log.push('lossy, reordering network');
    } else {
      cluster.network.heal();
      cluster.network.setReliable(true);
      cluster.network.setLongReordering(false);
      log.push('heal');
    }
  }
  cluster.network.heal();
  cluster.network.setReliable(true);
  cluster.network.setLongReordering(false);
}

describe('linearizability of a worker cluster under a nemesis (Jepsen-style)', () => {
  it(`keeps the history of sets, gets through the log and read()s linearizable for ${nemesisMs / 1000} s of partitions, leader crashes and a lossy, reordering network`, async () => {
    const { cluster, checker } = await pool.start({ nodes: 3 });
    await waitForLeader(cluster);
    const random = new Random(cluster.seed, 'test/nemesis');
    const until = performance.now() + nemesisMs;
    const history: Recorded[] = [];
    const nemesis: string[] = [];
    await Promise.all([
      runNemesis(cluster, checker, random, until, nemesis),
      runClient(cluster, 'wa', true, new Random(cluster.seed, 'wa'), until, history),
      runClient(cluster, 'wb', true, new Random(cluster.seed, 'wb'), until, history),
      runClient(cluster, 'ra', false, new Random(cluster.seed, 'ra'), until, history),
      runClient(cluster, 'rb', false, new Random(cluster.seed, 'rb'), until, history),
    ]);
    const result = checkLinearizable(history);
    const context = `seed ${cluster.seed}; nemesis: ${nemesis.join(', ')}`;
    expect(result.explanation, context).toBeUndefined();
    expect(result, context).toMatchObject({ ok: true, gaveUp: false });
    // The run did work: answered writes and reads through both paths.
    const answered = history.filter((op) => op.returnedAt !== null);
    expect(answered.filter((op) => op.kind === 'set').length, context).toBeGreaterThan(10);
    expect(answered.filter((op) => op.client.startsWith('r')).length, context).toBeGreaterThan(10);
    expect(nemesis.length).toBeGreaterThan(3);
  });

  it('catches a stale read in a hand-made history of the same shape (the check can fail)', () => {
    const history: Operation[] = [
      { client: 'wa', kind: 'set', key: 'x', value: 'wa1', invokedAt: 0, returnedAt: 5 },
      { client: 'wa', kind: 'set', key: 'x', value: 'wa2', invokedAt: 6, returnedAt: 9 },
      { client: 'ra', kind: 'get', key: 'x', value: 'wa1', invokedAt: 10, returnedAt: 11 },
    ];
    expect(checkLinearizable(history).ok).toBe(false);
  });
});
