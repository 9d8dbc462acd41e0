import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RaftClient, type ServerReport } from '../../src/net/raft-client.ts';
import { defaultTcpLimits } from '../../src/net/tcp-transport.ts';
import { createNetnsLab, netnsUnavailable, type NetnsLab } from './netns.ts';
import { spawnServe, type ServeProcess } from './serve-processes.ts';

/**
 * Three `raftchart serve` processes, each in its own network namespace with its own address,
 * their peer links real TCP over veths and a bridge (./netns.ts); the test reaches each server's
 * client port through a Unix socket, which crosses namespaces. The tests run in order on one
 * cluster, each starting from where the last one left it: elect and replicate, cut the leader's
 * cable, plug it back in, make a follower's link slow and lossy, let a follower fall behind and
 * catch up over a slow link, and check nothing diverged.
 */

const ids = ['n1', 'n2', 'n3'] as const;
type Id = (typeof ids)[number];
const peerPort = 7000;
const electionTimeoutMsMax = 600;
const timing = ['--election-timeout', `300-${electionTimeoutMsMax}`, '--heartbeat', '50'];
/** Generous bounds: two busy cores can stall a process for hundreds of ms. */
const electionMsMax = 8000;
const convergeMsMax = 10_000;
/** CheckQuorum steps a cut-off leader down after about an election timeout; allow a few and a stall. */
const stepDownMsMax = 4 * electionTimeoutMsMax + 1000;
/** A cut link is closed once silent this long, and the transport's next tick notices (ticks are sub-second). */
const silentCloseMsMax = defaultTcpLimits.silenceMs + 2000;
/** A healed link is redialled within the longest backoff, then connects at once. */
const reconnectMsMax = defaultTcpLimits.backoffMs[1] + defaultTcpLimits.connectTimeoutMs + 3000;
/** How long the write sent to the cut-off leader may try. */
const orphanTimeoutMs = 1500;
/** The slow link: 32 kB/s each way. */
const slowRateKbit = 256;
/** Over the lossy link: rounds of ten writes, a pause after each. */
const lossyRounds = 10;
const lossyPauseMs = 200;
/**
 * What the cut-off follower misses: 40 writes of 4 kB, 160 kB, five seconds on the slow link,
 * more than it carries in the transport's silence window; a bound of four times that.
 */
const behindRounds = 4;
const behindPadBytes = 4000;
const catchUpMsMax = 20_000;
const pollMs = 50;
const logLinesShown = 80;

const unavailable = await netnsUnavailable();
if (unavailable !== null) console.warn(`test/net/netns.test.ts skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('serve across three network namespaces', () => {
  let lab: NetnsLab | null = null;
  let dir = '';
  const servers = new Map<Id, ServeProcess>();
  let client: RaftClient | null = null;
  /** Every write a server acknowledged, and the value it must read back. */
  const acknowledged = new Map<string, unknown>();
  /** The leader the first test found, then the one elected while it was cut off. */
  let first: { id: Id; term: number } | null = null;
  let second: { id: Id; term: number } | null = null;
  const orphanKey = 'orphan';

  const socketOf = (id: Id) => join(dir, `${id}.sock`);
  const cluster = () => {
    if (client === null) throw new Error('the cluster did not start (see beforeAll)');
    return client;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'raftchart-netns-'));
    lab = await createNetnsLab(ids);
    const made = lab;
    const peers = ids.map((id) => `${id}=${made.addressOf(id)}:${peerPort}`).join(',');
    for (const id of ids) {
      const listen = `${made.addressOf(id)}:${peerPort}`;
      servers.set(id, spawnServe({ id, listen, peers, dataDir: join(dir, id), clientListen: socketOf(id), args: timing, netns: made.namespaceOf(id) }));
    }
    await Promise.all([...servers.values()].map((server) => server.ready));
    client = await RaftClient.connect({ servers: ids.map(socketOf), timeoutMs: 10_000 });
  });

  afterAll(async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown> | void) => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    await attempt(() => client?.close());
    await attempt(() => Promise.all([...servers.values()].map(stopServe)));
    await attempt(() => lab?.destroy());
    await attempt(() => rm(dir, { recursive: true, force: true }));
    if (failures.length > 0) throw new AggregateError(failures, 'cleaning up after the network-namespace tests failed');
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      for (const [id, server] of servers) {
        const lines = server.output().trimEnd().split('\n');
        console.error(`--- ${id}, its last ${logLinesShown} lines of output ---\n${lines.slice(-logLinesShown).join('\n')}`);
      }
    });
  });

  /** Each server's report, by id (a server that does not answer has status null). */
  async function reports(): Promise<Map<Id, ServerReport>> {
    const all = await cluster().status();
    return new Map(ids.map((id, i) => [id, all[i]]));
  }

  function describeReports(all: Map<Id, ServerReport>): string {
    return ids
      .map((id) => {
        const report = all.get(id);
        const s = report?.status;
        if (s == null) return `${id}: no answer (${report?.error ?? 'none'})`;
        return `${id}: ${s.role} term ${s.term} leader ${s.leaderId} commit ${s.commitIndex} applied ${s.lastApplied} last ${s.lastLogIndex}/${s.lastLogTerm} peers [${report?.transport?.connectedPeers.join(',')}]`;
      })
      .join('; ');
  }

  /** Polls the servers' reports until `check` returns a value (not null); rejects after `withinMs` naming what it waited for. */
  async function until<T>(what: string, withinMs: number, check: (all: Map<Id, ServerReport>) => T | null): Promise<T> {
    const deadline = performance.now() + withinMs;
    for (;;) {
      const all = await reports();
      const value = check(all);
      if (value !== null) return value;
      if (performance.now() > deadline) throw new Error(`waited ${withinMs} ms for ${what}; the servers say: ${describeReports(all)}`);
      await sleep(pollMs);
    }
  }

  /** One leader among `group`, which every server of the group follows in its term; null while there is none. */
  function agreedLeader(all: Map<Id, ServerReport>, group: readonly Id[]): { id: Id; term: number } | null {
    const leaders = group.filter((id) => all.get(id)?.status?.role === 'leader');
    if (leaders.length !== 1) return null;
    const term = all.get(leaders[0])?.status?.term as number;
    const followed = group.every((id) => all.get(id)?.status?.leaderId === leaders[0] && all.get(id)?.status?.term === term);
    return followed ? { id: leaders[0], term } : null;
  }

  /** True once every server of `group` committed `index` and all report the same commit, apply and log end. */
  function caughtUp(all: Map<Id, ServerReport>, group: readonly Id[], index: number): true | null {
    const statuses = group.map((id) => all.get(id)?.status);
    if (statuses.some((s) => s == null || s.commitIndex < index)) return null;
    const shape = (s: (typeof statuses)[number]) => `${s?.commitIndex} ${s?.lastApplied} ${s?.lastLogIndex}/${s?.lastLogTerm}`;
    return statuses.every((s) => shape(s) === shape(statuses[0])) ? true : null;
  }

  /** `count` concurrent writes `phase-i`, each recorded once acknowledged; resolves with the highest log index among them. */
  async function writeAll(phase: string, count: number, padBytes = 0): Promise<number> {
    const indexes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const key = `${phase}-${i}`;
        const value = { phase, i, pad: 'x'.repeat(padBytes) };
        const { index } = await cluster().set(key, value);
        acknowledged.set(key, value);
        return index;
      }),
    );
    return Math.max(...indexes);
  }

  async function expectAcknowledgedReadBack(): Promise<void> {
    for (const [key, value] of acknowledged) expect(await cluster().get(key), key).toEqual(value);
  }

  it('elects one leader and replicates writes to all three (§5.2, §5.3)', async () => {
    first = await until('one leader that all three follow', electionMsMax, (all) => agreedLeader(all, ids));
    const last = await writeAll('start', 20);
    await until(`all three to commit and apply through ${last}`, convergeMsMax, (all) => caughtUp(all, ids, last));
    await expectAcknowledgedReadBack();
  });

  it('a leader cut off from the others steps down and commits nothing, and the two left elect a leader and commit (§5.2, CheckQuorum)', async () => {
    const old = first;
    if (old === null) throw new Error('no leader from the first test');
    const others = ids.filter((id) => id !== old.id);
    const direct = await RaftClient.connect({ servers: [socketOf(old.id)], timeoutMs: orphanTimeoutMs });
    try {
      // The session opens now, while the write can still commit; the one after the cut is then the only entry it adds.
      await direct.set('direct', 'before the cut');
      acknowledged.set('direct', 'before the cut');
      await lab?.cut(old.id);
      const orphan = direct.set(orphanKey, 'never committed').then(
        () => 'acknowledged',
        (error: { code?: unknown }) => String(error.code),
      );
      const stepDownDeadline = performance.now() + stepDownMsMax;
      second = await until('a leader among the two left, in a higher term', electionMsMax, (all) => agreedLeader(all, others));
      expect(second.term).toBeGreaterThan(old.term);
      await until(`${old.id} to step down`, Math.max(0, stepDownDeadline - performance.now()), (all) => (all.get(old.id)?.status?.role === 'leader' ? null : true));
      expect(['Timeout', 'NotLeader']).toContain(await orphan);

      const last = await writeAll('cut', 20);
      await until(`the two left to commit and apply through ${last}`, convergeMsMax, (all) => caughtUp(all, others, last));
      const cutOff = (await reports()).get(old.id)?.status;
      expect(cutOff?.commitIndex).toBeLessThan(last);
      // The write sent to it went into its log: healing must replace that entry.
      expect(cutOff?.lastLogIndex).toBeGreaterThan(cutOff?.commitIndex ?? Infinity);
      // PreVote (dissertation §9.6): a server that cannot win raises no term.
      expect(cutOff?.term).toBe(old.term);
      await until(`${old.id}'s transport to close its silent links`, silentCloseMsMax, (all) => (all.get(old.id)?.transport?.connectedPeers.length === 0 ? true : null));
    } finally {
      direct.close();
    }
  });

  it('the old leader rejoins as a follower, drops its uncommitted entry and catches up (§5.3)', async () => {
    const leader = second;
    if (first === null || leader === null) throw new Error('no leaders from the tests before');
    const old = first.id;
    await lab?.heal(old);
    await until('every server connected to both others', reconnectMsMax, (all) => (ids.every((id) => all.get(id)?.transport?.connectedPeers.length === 2) ? true : null));
    const last = await writeAll('healed', 10);
    await until(`all three to commit and apply through ${last}`, convergeMsMax, (all) => caughtUp(all, ids, last));
    const all = await reports();
    // PreVote: the rejoining server did not depose the leader.
    expect(agreedLeader(all, ids)).toEqual(leader);
    expect(all.get(old)?.status?.role).toBe('follower');
    expect(await cluster().get(orphanKey)).toBeNull();
    await expectAcknowledgedReadBack();
  });

  it('commits over a slow, lossy link to one follower, which keeps up', async () => {
    const leader = second;
    if (leader === null || lab === null) throw new Error('no leader from the tests before');
    const slow = ids.filter((id) => id !== leader.id)[0];
    await lab.degrade(slow, { rateKbit: slowRateKbit, lossPercent: 5 });
    try {
      // Paced well below the link's rate, and long enough that hundreds of packets cross it (dozens dropped, each resent by TCP).
      let last = 0;
      for (let round = 0; round < lossyRounds; round++) {
        last = await writeAll(`lossy${round}`, 10, 200);
        await sleep(lossyPauseMs);
      }
      await until(`all three, ${slow} over its lossy link, to commit and apply through ${last}`, convergeMsMax, (all) => caughtUp(all, ids, last));
      expect(await lab.dropped(slow)).toBeGreaterThan(0);
      expect(agreedLeader(await reports(), ids)).toEqual(leader);
    } finally {
      await lab.restore(slow);
    }
  });

  it('a follower cut off for a while catches up over a slow link once it is back (§5.3)', async () => {
    const leader = second;
    const made = lab;
    if (leader === null || made === null) throw new Error('no leader from the tests before');
    const behind = ids.filter((id) => id !== leader.id)[1];
    await made.cut(behind);
    let degraded = false;
    try {
      // Once the leader's link to it is closed, what it misses is not queued for it: it has to be sent again on its return.
      await until(`${leader.id} to close its silent link to ${behind}`, silentCloseMsMax, (all) => (all.get(leader.id)?.transport?.connectedPeers.includes(behind) === false ? true : null));
      let last = 0;
      for (let round = 0; round < behindRounds; round++) last = await writeAll(`behind${round}`, 10, behindPadBytes);
      await made.degrade(behind, { rateKbit: slowRateKbit, lossPercent: 0 });
      degraded = true;
      await made.heal(behind);
      await until(`${behind} to catch up through ${last} over its ${slowRateKbit} kbit/s link`, catchUpMsMax, (all) => caughtUp(all, ids, last));
    } finally {
      await made.heal(behind);
      if (degraded) await made.restore(behind);
    }
  });

  it('ends with every acknowledged write readable and the same log end on all three (§5.3 Log Matching)', async () => {
    const last = await writeAll('end', 5);
    await until(`all three to commit and apply through ${last}`, convergeMsMax, (all) => caughtUp(all, ids, last));
    await expectAcknowledgedReadBack();
    expect(await cluster().get(orphanKey)).toBeNull();
    const ends = new Set([...(await reports()).values()].map((report) => `${report.status?.lastLogIndex}/${report.status?.lastLogTerm}`));
    expect([...ends]).toHaveLength(1);
    for (const [id, server] of servers) expect(server.child.exitCode, `${id} exited`).toBeNull();
  });
});

/** SIGTERM (a clean stop), then SIGKILL if it has not ended within a few seconds. */
async function stopServe(server: ServeProcess): Promise<void> {
  const graceMs = 5000;
  const stopped = await Promise.race([server.kill('SIGTERM').then(() => true), sleep(graceMs).then(() => false)]);
  if (!stopped) await server.kill('SIGKILL');
}
