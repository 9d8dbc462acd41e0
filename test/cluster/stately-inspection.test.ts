import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCaptured as run } from '../cli/run-captured.ts';
import type { ServerInspectionEvent } from '../../src/cluster/local-cluster.ts';
import { startStatelyBridge, type StatelyBridge } from '../../src/inspect/stately-bridge.ts';
import { ClusterPool, waitFor, waitForLeader } from './harness.ts';

const pool = new ClusterPool();
let bridge: StatelyBridge | null = null;
let client: WebSocket | null = null;
let blocker: Server | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  blocker?.close();
  blocker = null;
  bridge?.stop();
  bridge = null;
  await pool.stopAll();
});

describe('inspection events', () => {
  it('reach the main thread from every server, plain and naming their chart, only when asked for', async () => {
    const events: ServerInspectionEvent[] = [];
    const { cluster } = await pool.start({ nodes: 3, onInspectionEvent: (event) => events.push(event) });
    const { cluster: quiet } = await pool.start({ nodes: 3, seed: 2 });
    await waitForLeader(cluster);
    await waitForLeader(quiet);
    const leaderSnapshots = await waitFor('a snapshot of a leader', () => events.find((e) => e.type === '@xstate.snapshot' && JSON.stringify(e.snapshot?.value).includes('leader')));
    expect(leaderSnapshots.machineId).toBe('raftServer');
    for (const id of cluster.nodeIds) {
      const actors = events.filter((e) => e.nodeId === id && e.type === '@xstate.actor');
      expect(actors.map((e) => e.machineId).sort(), id).toEqual(['durableLog', 'raftServer']);
      expect(JSON.parse(actors.find((e) => e.machineId === 'raftServer')?.definition ?? '{}')).toMatchObject({ id: 'raftServer', initial: 'follower' });
      expect(events.some((e) => e.nodeId === id && e.type === '@xstate.event' && e.sessionId.startsWith(`${id}/`))).toBe(true);
      expect((await cluster.workerCounters(id)).inspectionEventsPosted).toBeGreaterThan(0);
      expect((await quiet.workerCounters(id)).inspectionEventsPosted).toBe(0);
    }
    // Plain data: JSON carries every event whole.
    expect(JSON.parse(JSON.stringify(events.slice(0, 200)))).toEqual(events.slice(0, 200));
  });

  it('stream to Stately\'s inspector through its relay server, which a WebSocket client can read', async () => {
    bridge = await startStatelyBridge({ port: 0 });
    const received: { type: string; name?: string; sessionId: string }[] = [];
    const socket = new WebSocket(bridge.url.replace('http', 'ws'));
    client = socket;
    socket.on('message', (data) => received.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const send = bridge.send;
    const { cluster } = await pool.start({ nodes: 3, onInspectionEvent: (event) => send(event) });
    await waitForLeader(cluster);
    await waitFor('Stately actor events from every server', () =>
      cluster.nodeIds.every((id) => received.some((e) => e.type === '@xstate.actor' && e.name === 'raftServer' && e.sessionId.startsWith(`${id}/`))),
    );
    expect(received.some((e) => e.type === '@xstate.snapshot')).toBe(true);
  });
});

describe('raftchart cluster --stately', () => {
  it('runs the cluster with the relay and says which page to open', async () => {
    const { code, out } = await run(['cluster', '--nodes', '1', '--no-fsync', '--stately-port', '0', '--duration-ms', '300']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^Stately inspector: open http:\/\/localhost:\d+ in a browser that is online$/);
  });

  it('refuses a taken port with exit code 2 and says what to do', async () => {
    const taken = createServer();
    blocker = taken;
    const port = await new Promise<number>((resolve) => taken.listen(0, () => resolve((taken.address() as { port: number }).port)));
    const { code, err } = await run(['cluster', '--nodes', '1', '--stately-port', String(port), '--duration-ms', '300']);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(new RegExp(`port ${port} .* is not free .*choose another with --stately-port`));
  });
});
