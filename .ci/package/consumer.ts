// A TypeScript app that installed the raftchart tarball, type-checked against the shipped .d.ts
// (skipLibCheck off). Never run: the @ts-expect-error lines fail the check if the types were `any`.
import { LocalCluster, RaftClient, encodeKeyValueCommand, hasErrorCode, type ClusterOptions, type CommittedResult, type ErrorCode, type NodeStatus, type ServerReport } from 'raftchart';

const options: ClusterOptions = { nodes: 3, fsync: true };

export async function setAndGet(key: string, value: number): Promise<unknown> {
  const cluster = await LocalCluster.start(options);
  try {
    const session = await cluster.session();
    await session.propose(encodeKeyValueCommand({ op: 'set', key, value }));
    const statuses: NodeStatus[] = await Promise.all(cluster.nodeIds.map((id) => cluster.status(id)));
    const leader = statuses.find((s) => s.role === 'leader');
    if (leader === undefined) return undefined;
    const read: CommittedResult = await cluster.read(leader.id, encodeKeyValueCommand({ op: 'get', key }));
    return read.result;
  } catch (error) {
    const code: ErrorCode = 'NotLeader';
    if (hasErrorCode(error, code)) return undefined;
    throw error;
  } finally {
    await cluster.stop();
  }
}

export async function misuse(): Promise<void> {
  // @ts-expect-error nodes is a number
  await LocalCluster.start({ nodes: 'three' });
  const cluster = await LocalCluster.start(options);
  // @ts-expect-error a command is bytes, not a string
  await cluster.propose('n1', 'set a 1');
}

export async function overTcp(servers: readonly string[]): Promise<unknown> {
  const client: RaftClient = await RaftClient.connect({ servers, timeoutMs: 5000 });
  try {
    const { previous }: { previous: unknown; index: number } = await client.set('k', { n: 1 });
    const reports: ServerReport[] = await client.status();
    // @ts-expect-error a key is a string
    await client.get(7);
    return [previous, reports.map((report) => report.status?.role), await client.get('k')];
  } finally {
    client.close();
  }
}
