import { runClosedLoop, type LoadPlan, type LoadWindow } from './closed-loop.ts';
import { commandOf } from './common.ts';
import { EtcdCluster } from './etcd-cluster.ts';
import { encodePutRequest, EtcdConnection, grpcFrame, putPath } from './etcd-grpc.ts';
import { clientKey } from './raftchart-load.ts';

/**
 * etcd under the same closed-loop load as raftchart: each client Puts its own key (c00000 …) with
 * a value of the benchmark's size and waits for the answer, which etcd sends once the Put is
 * committed (fsynced on a majority) and applied. Every client talks to the leader, as raftchart's
 * do, over `connectionsMax` HTTP/2 connections (client i on connection i mod n): a follower would
 * forward each Put to the leader, adding a hop raftchart's clients do not pay.
 */

/** HTTP/2 connections to the leader; each carries many concurrent streams. */
export const connectionsMax = 4;
export const etcdMembers = 3;

export interface EtcdRun {
  readonly etcd: string;
  readonly bytes: number;
  readonly parentDir: string;
}

/**
 * Starts a 3-member cluster, measures each plan in turn on it, stops it. `onCluster` hears the
 * cluster as soon as it runs, so an interrupted benchmark can stop it.
 */
export async function measureEtcd(
  run: EtcdRun,
  plans: readonly LoadPlan[],
  onWindow: (window: LoadWindow) => void,
  onCluster: (cluster: EtcdCluster) => void,
): Promise<void> {
  const cluster = await EtcdCluster.start(run.etcd, run.parentDir, etcdMembers);
  onCluster(cluster);
  const connections: EtcdConnection[] = [];
  try {
    const leaderUrl = await cluster.leaderUrl();
    for (let i = 0; i < connectionsMax; i++) connections.push(await EtcdConnection.open(leaderUrl));
    const value = commandOf(run.bytes);
    const encoder = new TextEncoder();
    for (const plan of plans) {
      const requests = Array.from({ length: plan.concurrency }, (_, client) => grpcFrame(encodePutRequest(encoder.encode(clientKey(client)), value)));
      const operation = async (client: number) => {
        await connections[client % connections.length].call(putPath, requests[client]);
      };
      onWindow(await runClosedLoop(operation, plan, cluster.probe));
    }
  } finally {
    await Promise.all(connections.map((connection) => connection.close()));
    await cluster.stop();
  }
}
