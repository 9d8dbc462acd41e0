import { afterEach, describe, expect, it } from 'vitest';
import { encodeKeyValueCommand } from '../../src/index.ts';
import { ClusterPool, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
afterEach(() => pool.stopAll());

const set = (key: string, value: string) => encodeKeyValueCommand({ op: 'set', key, value });
const counter = new URL('./fixtures/counter-state-machine.ts', import.meta.url);

describe('LocalCluster.session (client sessions, exactly once, dissertation §6.3)', () => {
  it('answers a repeated sequence number from the cache, refuses one behind and an unknown session, and loses nothing', async () => {
    const { cluster } = await pool.start({ nodes: 3 });
    const session = await cluster.session();
    expect(session.id).toBeGreaterThan(0);
    expect(await session.propose(set('k', 'a'))).toMatchObject({ seq: 1, result: { ok: true, previous: null } });
    expect(await session.propose(set('k', 'b'))).toMatchObject({ seq: 2, result: { ok: true, previous: 'a' } });
    expect(await session.propose(set('k', 'c'))).toMatchObject({ seq: 3, result: { ok: true, previous: 'b' } });
    // Seq 3 again (as after a lost answer): the first answer, and nothing applied again.
    expect(await session.propose(set('k', 'c'), { seq: 3 })).toMatchObject({ seq: 3, result: { ok: true, previous: 'b' } });
    // Seq 1: this session told the servers it has every answer through 2.
    await expect(session.propose(set('k', 'late'), { seq: 1 })).rejects.toMatchObject({ code: 'InvalidCommand', details: { reason: 'seqBehind' } });
    const stranger = await cluster.session({ id: 987_654 });
    await expect(stranger.propose(set('k', 'x'))).rejects.toMatchObject({ code: 'InvalidCommand', details: { reason: 'unknownSession' } });
    await expect(cluster.session({ id: -1 })).rejects.toMatchObject({ code: 'InvalidOptions' });
    // A plain command that looks like a session envelope is refused before it reaches the log.
    const leader = await waitForLeader(cluster);
    await expect(cluster.proposeAndWait(leader.id, Uint8Array.of(0xff, 0x52, 0x43, 0x53, 1))).rejects.toMatchObject({ code: 'InvalidCommand' });
    expect((await cluster.read(leader.id, encodeKeyValueCommand({ op: 'get', key: 'k' }))).result).toEqual({ ok: true, value: 'c' });
  });

  it('applies each command exactly once while the leader crashes under it and the session retries elsewhere', async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, stateMachine: counter.href });
    const session = await cluster.session();
    const command = new TextEncoder().encode('12345');
    let crashes = 0;
    for (let i = 0; i < 12; i++) {
      const proposed = session.propose(command);
      if (i % 4 === 1) {
        // Crash the leader while the command is on its way: its answer may be lost after it committed.
        const leader = await waitForLeader(cluster);
        await new Promise((resolve) => setTimeout(resolve, i % 8));
        await cluster.crash(leader.id);
        crashes++;
        await proposed;
        checker.reset(leader.id);
        await cluster.restart(leader.id);
      } else {
        await proposed;
      }
    }
    // The counter adds 5 per application: twelve commands, twelve applications, whatever was retried.
    const last = await session.propose(command);
    expect(last.result).toMatchObject({ total: 13 * command.byteLength });
    expect(crashes).toBe(3);
  });
});
