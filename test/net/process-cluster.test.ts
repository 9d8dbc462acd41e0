import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Inspector } from '../../src/inspect/inspector-server.ts';
import { ProcessCluster } from '../../src/net/process-cluster.ts';
import { runCli } from '../../src/cli/run-cli.ts';
import { waitFor } from '../cluster/harness.ts';

/**
 * `raftchart cluster --processes`: serve processes on loopback, and the inspector following them
 * over their client ports — the page's commands crash (SIGKILL), restart and partition them.
 */

type NodeSeen = { id: string; alive: boolean; role: string; term: number; state: string; detail: { logTail: unknown[] } | null };
type UpdateSeen = { type: 'update'; leader: string | null; nodes: NodeSeen[]; network: { reachable: Record<string, string[]>; messages: number } };

describe('a cluster of serve processes, followed by the inspector', () => {
  let cluster: ProcessCluster;
  let inspector: Inspector;
  let socket: WebSocket;
  const messages: Record<string, unknown>[] = [];
  let nextId = 1;
  const ask = async (request: Record<string, unknown>) => {
    const id = nextId++;
    socket.send(JSON.stringify({ id, ...request }));
    return waitFor(`the reply to ${JSON.stringify(request)}`, () => messages.find((m) => m.type === 'reply' && m.id === id), 20_000);
  };
  const updates = (from = 0) => messages.slice(from).filter((m): m is UpdateSeen => m.type === 'update');

  beforeAll(async () => {
    cluster = await ProcessCluster.start({ processes: 3, electionTimeoutMs: [300, 600], heartbeatIntervalMs: 50, fsync: false });
    inspector = await Inspector.start(cluster, { port: 0 });
    socket = new WebSocket(`ws://127.0.0.1:${inspector.port}/live`, { origin: `http://127.0.0.1:${inspector.port}` });
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
  });
  afterAll(async () => {
    socket?.terminate();
    await inspector?.close();
    await cluster?.stop();
  });

  it('shows every process with its chart detail, the leader and the links; proposes on the leader', async () => {
    const first = await waitFor('an update with a leader and every link up', () =>
      updates().find((u) => u.leader !== null && Object.values(u.network.reachable).every((peers) => peers.length === 2)),
    );
    expect(first.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
    expect(first.nodes.every((n) => n.alive && n.detail !== null && n.detail.logTail.length >= 1)).toBe(true);
    expect(await ask({ command: 'propose', count: 5 })).toMatchObject({ ok: true, text: expect.stringMatching(/appended 5 of 5/) });
    expect(await cluster.client.get('k1')).toBe(1);
    // What a real network cannot do is refused, with a code.
    expect(await ask({ command: 'setReliable', reliable: false })).toMatchObject({ ok: false, code: 'InvalidOptions' });
    expect(await ask({ command: 'addLearner' })).toMatchObject({ ok: false, code: 'InvalidOptions' });
  });

  it('crashes the leader (SIGKILL) and restarts it; partitions one server off and heals', async () => {
    const leader = (updates().at(-1) as UpdateSeen).leader as string;
    expect(await ask({ command: 'crash', node: leader })).toMatchObject({ ok: true });
    let seen = messages.length;
    await waitFor('a new leader while the old one is down', () => updates(seen).find((u) => u.leader !== null && u.leader !== leader && u.nodes.find((n) => n.id === leader)?.state === 'down'), 15_000);
    expect(await ask({ command: 'restart', node: leader })).toMatchObject({ ok: true });
    seen = messages.length;
    await waitFor('the restarted server back, every link up', () =>
      updates(seen).find((u) => u.nodes.every((n) => n.alive) && Object.values(u.network.reachable).every((peers) => peers.length === 2)),
    15_000);

    const now = (updates().at(-1) as UpdateSeen).leader as string;
    const others = cluster.nodeIds.filter((id) => id !== now);
    expect(await ask({ command: 'partition', groups: [[now], others] })).toMatchObject({ ok: true });
    seen = messages.length;
    const split = await waitFor('a leader in the majority, the old one cut off', () => updates(seen).find((u) => u.leader !== null && others.includes(u.leader) && (u.network.reachable[now] ?? []).length === 0), 15_000);
    expect(split.nodes.find((n) => n.id === split.leader)?.term).toBeGreaterThan(0);
    await cluster.client.set('during-partition', 1);
    expect(await ask({ command: 'heal' })).toMatchObject({ ok: true });
    seen = messages.length;
    await waitFor('healed: every link up, one leader', () => updates(seen).find((u) => u.leader !== null && Object.values(u.network.reachable).every((peers) => peers.length === 2)), 15_000);
    expect(await cluster.client.get('during-partition')).toBe(1);
  });

  it('runs from the command line: raftchart cluster --processes 3 --seconds N', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['cluster', '--processes', '3', '--seconds', '4', '--election-timeout', '300-600', '--heartbeat', '50', '--no-fsync'], { out: (line) => out.push(line), err: (line) => err.push(line) });
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/leader n\d term \d+/);
    expect(out.at(-1)).toBe('stopped');
    expect(await runCli(['cluster', '--processes', '3', '--nodes', '3'], { out: () => undefined, err: (line) => err.push(line) })).toBe(2);
    expect(err.join('\n')).toContain('not both');
  });
});
