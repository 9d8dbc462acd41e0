import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RaftClient } from '../../src/net/raft-client.ts';
import { startServer, type RunningServer, type ServeOptions } from '../../src/net/serve.ts';
import { freePorts } from './serve-processes.ts';

/**
 * Three `serve` servers in this process, each on its own loopback ports (the TCP transport and the
 * client port for real, with no process start-up to wait for): for the transport's tests.
 */
export interface TcpCluster {
  readonly servers: RunningServer[];
  readonly peerPorts: readonly number[];
  readonly clientAddresses: readonly string[];
  /** Every log event, as each server logged it. */
  readonly events: { readonly server: string; readonly event: Record<string, unknown> }[];
  readonly client: RaftClient;
  stop(): Promise<void>;
}

export const fastTiming = { electionTimeoutMsMin: 150, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 };

export async function startTcpCluster(more: (id: string) => Partial<ServeOptions> = () => ({})): Promise<TcpCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'raftchart-tcp-'));
  const ports = await freePorts(6);
  const ids = ['n1', 'n2', 'n3'];
  const peers = new Map(ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i] }]));
  const events: TcpCluster['events'] = [];
  const servers = await Promise.all(
    ids.map((id, i) =>
      startServer({
        id,
        listen: { host: '127.0.0.1', port: ports[i] },
        peers,
        dataDir: join(dir, id),
        clientListen: { host: '127.0.0.1', port: ports[3 + i] },
        fsync: false,
        config: fastTiming,
        log: (event) => events.push({ server: id, event }),
        ...more(id),
      }),
    ),
  );
  const clientAddresses = ports.slice(3).map((port) => `127.0.0.1:${port}`);
  const client = await RaftClient.connect({ servers: clientAddresses, timeoutMs: 10_000 });
  return {
    servers,
    peerPorts: ports.slice(0, 3),
    clientAddresses,
    events,
    client,
    stop: async () => {
      client.close();
      await Promise.all(servers.map((server) => server.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits (bounded) until `events` holds one that `match` accepts; returns it. */
export async function untilEvent(cluster: TcpCluster, match: (entry: TcpCluster['events'][number]) => boolean, timeoutMs = 5000): Promise<TcpCluster['events'][number]> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const found = cluster.events.find(match);
    if (found !== undefined) return found;
    await sleep(10);
  }
  throw new Error(`no such event within ${timeoutMs} ms; events: ${JSON.stringify(cluster.events.slice(-20))}`);
}
