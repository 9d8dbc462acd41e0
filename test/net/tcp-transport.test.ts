import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/net/frames.ts';
import { startTcpCluster, untilEvent, type TcpCluster } from './tcp-cluster.ts';

/** Opens a raw connection to `port`, writes `bytes`, and resolves with what came back once the server closed it. */
async function poke(port: number, ...frames: Buffer[]): Promise<{ closed: boolean; received: Buffer }> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  for (const frame of frames) socket.write(frame);
  const closed = await Promise.race([new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))), sleep(3000).then(() => false)]);
  socket.destroy();
  return { closed, received: Buffer.concat(chunks) };
}

const hello = (fields: Record<string, unknown>) => encodeFrame({ t: 'hello', magic: 'raftchart', version: 1, cluster: 'raftchart', from: 'n1', to: 'n3', ...fields });

describe('TCP transport between serve servers', () => {
  let cluster: TcpCluster;
  beforeAll(async () => {
    cluster = await startTcpCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('elects a leader, commits writes on a majority and reads them back through the client', async () => {
    for (let i = 0; i < 20; i++) await cluster.client.set(`k${i}`, i);
    expect(await cluster.client.get('k7')).toBe(7);
    expect((await cluster.client.delete('k7')).previous).toBe(7);
    expect(await cluster.client.get('k7')).toBeNull();
    const reports = await cluster.client.status();
    expect(reports.filter((report) => report.status?.role === 'leader')).toHaveLength(1);
    for (const report of reports) expect(report.transport?.connectedPeers).toHaveLength(2);
  });

  it('closes a connection that sends garbage, with a coded reason, and the cluster goes on committing', async () => {
    const n3 = cluster.peerPorts[2];
    const before = cluster.servers[2].transport.counters.connectionsRefused;
    // A length far over the frame limit.
    expect((await poke(n3, Buffer.from([0x7f, 0xff, 0xff, 0xff]))).closed).toBe(true);
    await untilEvent(cluster, ({ server, event }) => server === 'n3' && event.code === 'FrameTooLarge');
    // Bytes that do not deserialize.
    expect((await poke(n3, Buffer.concat([Buffer.from([0, 0, 0, 4]), Buffer.from('junk')]))).closed).toBe(true);
    await untilEvent(cluster, ({ server, event }) => server === 'n3' && event.code === 'MalformedFrame');
    // Handshakes naming another cluster, another server, or a server that is no peer (or does not dial n3).
    for (const [fields, code] of [
      [{ cluster: 'other' }, 'WrongCluster'],
      [{ to: 'n2' }, 'WrongServer'],
      [{ from: 'n9' }, 'UnknownPeer'],
      [{ t: 'nonsense' }, 'BadHandshake'],
    ] as const) {
      const { closed, received } = await poke(n3, hello(fields));
      expect(closed).toBe(true);
      // The refusal is told to the other end too.
      expect(received.toString('latin1')).toContain(code);
      await untilEvent(cluster, ({ server, event }) => server === 'n3' && event.code === code);
    }
    // A connection in n1's name that carries a message from someone else.
    const forged = await poke(n3, hello({}), encodeFrame({ type: 'rpc.requestVote', from: 'n2', to: 'n3', term: 99, lastLogIndex: 0, lastLogTerm: 0 }));
    expect(forged.closed).toBe(true);
    await untilEvent(cluster, ({ server, event }) => server === 'n3' && event.code === 'WrongSender');
    expect(cluster.servers[2].transport.counters.connectionsRefused - before).toBeGreaterThanOrEqual(7);
    // The forged term never reached the chart, and the cluster commits on.
    for (const server of cluster.servers) expect(server.host.actor.getSnapshot().context.currentTerm).toBeLessThan(99);
    await cluster.client.set('after-garbage', true);
    expect(await cluster.client.get('after-garbage')).toBe(true);
    await untilEvent(cluster, () => cluster.servers.every((server) => server.transport.connected(server.id === 'n1' ? 'n3' : 'n1')));
  });

  it('refuses a malformed client request by closing only that connection', async () => {
    const clientPort = Number(cluster.clientAddresses[0].split(':')[1]);
    expect((await poke(clientPort, encodeFrame('not a request'))).closed).toBe(true);
    await untilEvent(cluster, ({ server, event }) => server === 'n1' && event.event === 'clientClosed');
    expect((await poke(clientPort, Buffer.from([0x7f, 0, 0, 0]))).closed).toBe(true);
    await cluster.client.set('after-bad-client', 1);
    expect(await cluster.client.get('after-bad-client')).toBe(1);
  });
});
