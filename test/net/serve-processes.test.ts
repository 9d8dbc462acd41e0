import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { RaftClient } from '../../src/net/raft-client.ts';
import { freePorts, spawnServe, type ServeProcess, type ServeSpec } from './serve-processes.ts';

/**
 * Three `raftchart serve` processes on loopback, fsync on, driven through RaftClient: the leader
 * is SIGKILLed while writes stream, a new one takes over, the killed server restarts on its folder
 * and catches up, and every acknowledged write is there. Then a clean stop (SIGTERM).
 */

const timing = ['--election-timeout', '300-600', '--heartbeat', '50'];

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = await probe();
    if (value !== null) return value;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

describe('serve processes on loopback', () => {
  const running: ServeProcess[] = [];
  let dir = '';
  let client: RaftClient | null = null;
  afterAll(async () => {
    client?.close();
    await Promise.all(running.map((serve) => serve.kill('SIGKILL')));
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged write when the leader is killed with SIGKILL and restarted', async () => {
    dir = await mkdtemp(join(tmpdir(), 'raftchart-serve-'));
    const ports = await freePorts(6);
    const ids = ['n1', 'n2', 'n3'];
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    const specs: ServeSpec[] = ids.map((id, i) => ({ id, listen: `127.0.0.1:${ports[i]}`, peers, dataDir: join(dir, id), clientListen: `127.0.0.1:${ports[3 + i]}`, args: timing }));
    const start = (spec: ServeSpec) => {
      const serve = spawnServe(spec);
      running.push(serve);
      return serve;
    };
    const serves = new Map(specs.map((spec) => [spec.id, start(spec)]));
    await Promise.all([...serves.values()].map((serve) => serve.ready));
    client = await RaftClient.connect({ servers: specs.map((spec) => spec.clientListen), timeoutMs: 15_000 });

    const acked = new Map<string, number>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 100_000; i++) {
        await client.set(`w${i}`, i);
        acked.set(`w${i}`, i);
      }
    })();
    await until('100 writes acknowledged', async () => (acked.size >= 100 ? true : null));
    const leader = await until('a leader', async () => (await client?.status())?.find((report) => report.status?.role === 'leader')?.serverId ?? null);
    const killed = serves.get(leader) as ServeProcess;
    expect(await killed.kill('SIGKILL')).toBeNull();
    const ackedAtKill = acked.size;
    // Writes go on through a new leader.
    await until('writes after the kill', async () => (acked.size >= ackedAtKill + 100 ? true : null));
    const after = await client.status();
    const newLeader = after.find((report) => report.status?.role === 'leader');
    expect(newLeader?.serverId).not.toBe(leader);
    // The killed server restarts on its folder (the dead process's lock is taken over) and catches up.
    const restarted = start(specs.find((spec) => spec.id === leader) as ServeSpec);
    await restarted.ready;
    await until('more writes after the restart', async () => (acked.size >= ackedAtKill + 200 ? true : null));
    writing = false;
    await writer;
    const final = await until('all three hold the same log', async () => {
      const reports = await (client as RaftClient).status();
      const statuses = reports.map((report) => report.status);
      if (statuses.some((status) => status === null)) return null;
      const [a, ...rest] = statuses.map((status) => status as NonNullable<typeof status>);
      const same = rest.every((s) => s.lastLogIndex === a.lastLogIndex && s.lastLogTerm === a.lastLogTerm && s.commitIndex === a.commitIndex && s.lastApplied === a.commitIndex);
      return same && a.lastApplied === a.commitIndex ? statuses : null;
    });
    expect(final).toHaveLength(3);
    // Every acknowledged write reads back.
    for (const [key, value] of acked) expect(await client.get(key)).toBe(value);
  });

  it('stops cleanly on SIGTERM: exit code 0, the folder lock released', async () => {
    const serve = running.find((candidate) => candidate.child.exitCode === null && candidate.child.signalCode === null) as ServeProcess;
    expect(await serve.kill('SIGTERM')).toBe(0);
    expect(serve.output()).toContain(`${serve.spec.id} stopped`);
    // Restarted on the same folder with the lock released, it serves again.
    const again = spawnServe(serve.spec);
    running.push(again);
    await again.ready;
    expect(again.output()).not.toContain('LogLocked');
  });
});
