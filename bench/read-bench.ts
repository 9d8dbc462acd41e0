import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeKeyValueCommand, hasErrorCode, LocalCluster, type ClusterOptions, type NodeId } from '../src/index.ts';
import { runClosedLoop, thisProcess, type LoadPlan, type LoadWindow } from './closed-loop.ts';
import { commandOf, formatTable, machineInfo, resultFileName, writeResultFile, type MachineInfo } from './common.ts';
import { EtcdCluster, findEtcd } from './etcd-cluster.ts';
import { encodePutRequest, EtcdConnection, grpcFrame, putPath } from './etcd-grpc.ts';
import { connectionsMax, etcdMembers } from './etcd-load.ts';
import { clientKey, etcdTiming } from './raftchart-load.ts';

/**
 * `npm run bench -- reads [--quick]`: reads in the same run, closed-loop at 1 and 256 clients,
 * each client getting its own key (written first, 100 B values):
 * - raftchart read() with ReadIndex (one heartbeat round per batch of reads, §6.4),
 * - raftchart read() with a lease (readMode 'lease', §6.4.1),
 * - raftchart reads through the log (proposeAndWait of a get: an entry, fsynced on a majority),
 * - etcd's linearizable Range (its ReadIndex), when etcd is on PATH.
 * Every read goes to the leader. Results go to bench/results/reads-*.json.
 */

const concurrencies = [1, 256] as const;
const valueBytes = 100;
const rangePath = '/etcdserverpb.KV/Range';

export type ReadKind = 'raftchart read() readIndex' | 'raftchart read() lease' | 'raftchart get through the log' | 'etcd Range (linearizable)';

export interface ReadRow {
  readonly kind: ReadKind;
  readonly concurrency: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface ReadBenchResult {
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly etcd: string | null;
  readonly plan: { readonly warmupMs: number; readonly durationMs: number };
  readonly rows: readonly ReadRow[];
  /** At 256 clients: read() over reads through the log (targets: ReadIndex ≥ 5×, lease ≥ 10×), and over etcd's Range. */
  readonly ratios: Readonly<Record<string, number | null>>;
}

function rowOf(kind: ReadKind, concurrency: number, window: LoadWindow): ReadRow {
  const latency = window.latencies.summary();
  return { kind, concurrency, opsPerSec: (window.ops * 1000) / window.ms, p50Ms: latency.p50Ms, p99Ms: latency.p99Ms };
}

async function leaderOf(cluster: LocalCluster): Promise<NodeId> {
  for (let tries = 0; tries < 1500; tries++) {
    const statuses = await Promise.all(cluster.nodeIds.map((id) => cluster.status(id)));
    const leader = statuses.find((s) => s.alive && s.role === 'leader');
    if (leader !== undefined) return leader.id;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no leader within 15 s');
}

/** One raftchart cluster in `readMode`: writes every client's key, then measures each kind of read at each concurrency. */
async function measureRaftchart(parentDir: string, readMode: 'readIndex' | 'lease', kinds: readonly ReadKind[], plan: Omit<LoadPlan, 'concurrency'>, rows: ReadRow[], print: (line: string) => void): Promise<void> {
  const dataDir = await mkdtemp(join(parentDir, `reads-${readMode}-`));
  const options: ClusterOptions = { nodes: 3, dataDir, readMode, ...etcdTiming };
  const cluster = await LocalCluster.start(options);
  try {
    let leader = await leaderOf(cluster);
    const value = 'x'.repeat(valueBytes);
    const clientsMax = Math.max(...concurrencies);
    await Promise.all(Array.from({ length: clientsMax }, (_, client) => cluster.proposeAndWait(leader, encodeKeyValueCommand({ op: 'set', key: clientKey(client), value }))));
    const gets = Array.from({ length: clientsMax }, (_, client) => encodeKeyValueCommand({ op: 'get', key: clientKey(client) }));
    for (const kind of kinds) {
      const viaLog = kind === 'raftchart get through the log';
      for (const concurrency of concurrencies) {
        print(`  ${kind}, ${concurrency} client${concurrency === 1 ? '' : 's'}`);
        const operation = async (client: number) => {
          for (;;) {
            try {
              const { result } = viaLog ? await cluster.proposeAndWait(leader, gets[client]) : await cluster.read(leader, gets[client]);
              if ((result as { value?: unknown }).value !== value) throw new Error(`a read of ${clientKey(client)} gave ${JSON.stringify(result)}`);
              return;
            } catch (error) {
              if (!hasErrorCode(error, 'NotLeader') && !hasErrorCode(error, 'Timeout')) throw error;
              leader = await leaderOf(cluster);
            }
          }
        };
        rows.push(rowOf(kind, concurrency, await runClosedLoop(operation, { ...plan, concurrency }, thisProcess)));
      }
    }
  } finally {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** `etcdserverpb.RangeRequest { bytes key = 1; }`: serializable false, so linearizable (etcd's ReadIndex). */
function encodeRangeRequest(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + key.byteLength);
  out[0] = (1 << 3) | 2;
  out[1] = key.byteLength;
  out.set(key, 2);
  return out;
}

async function measureEtcdRange(etcd: string, parentDir: string, plan: Omit<LoadPlan, 'concurrency'>, rows: ReadRow[], print: (line: string) => void, running: Set<EtcdCluster>): Promise<void> {
  const cluster = await EtcdCluster.start(etcd, parentDir, etcdMembers);
  running.add(cluster);
  const connections: EtcdConnection[] = [];
  try {
    const leaderUrl = await cluster.leaderUrl();
    for (let i = 0; i < connectionsMax; i++) connections.push(await EtcdConnection.open(leaderUrl));
    const encoder = new TextEncoder();
    const clientsMax = Math.max(...concurrencies);
    const value = commandOf(valueBytes);
    await Promise.all(Array.from({ length: clientsMax }, (_, client) => connections[client % connectionsMax].call(putPath, grpcFrame(encodePutRequest(encoder.encode(clientKey(client)), value)))));
    const requests = Array.from({ length: clientsMax }, (_, client) => grpcFrame(encodeRangeRequest(encoder.encode(clientKey(client)))));
    for (const concurrency of concurrencies) {
      print(`  etcd Range (linearizable), ${concurrency} client${concurrency === 1 ? '' : 's'}`);
      const operation = async (client: number) => {
        await connections[client % connections.length].call(rangePath, requests[client]);
      };
      rows.push(rowOf('etcd Range (linearizable)', concurrency, await runClosedLoop(operation, { ...plan, concurrency }, cluster.probe)));
    }
  } finally {
    await Promise.all(connections.map((connection) => connection.close()));
    await cluster.stop();
    running.delete(cluster);
  }
}

export async function runReadBench(options: { readonly quick: boolean; readonly resultsDir: string }, print: (line: string) => void): Promise<ReadBenchResult> {
  const startedAt = new Date().toISOString();
  const root = await mkdtemp(join(tmpdir(), 'raftchart-reads-'));
  const running = new Set<EtcdCluster>();
  const plan = options.quick ? { warmupMs: 500, durationMs: 2000 } : { warmupMs: 1000, durationMs: 5000 };
  try {
    const machine = await machineInfo(root);
    const etcd = findEtcd();
    print(`reads: 3 servers, fsync on, ${valueBytes} B values, ${plan.durationMs / 1000} s windows after ${plan.warmupMs / 1000} s warm-up; etcd: ${etcd ?? 'not on PATH (npm run bench:etcd installs it)'}`);
    const rows: ReadRow[] = [];
    await measureRaftchart(root, 'readIndex', ['raftchart read() readIndex', 'raftchart get through the log'], plan, rows, print);
    await measureRaftchart(root, 'lease', ['raftchart read() lease'], plan, rows, print);
    if (etcd !== null) await measureEtcdRange(etcd, root, plan, rows, print, running);
    const at = (kind: ReadKind, concurrency: number) => rows.find((r) => r.kind === kind && r.concurrency === concurrency)?.opsPerSec ?? null;
    const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
    const log256 = at('raftchart get through the log', 256);
    const etcd256 = at('etcd Range (linearizable)', 256);
    const etcd1 = at('etcd Range (linearizable)', 1);
    const ratios = {
      'readIndex / log @256': ratio(at('raftchart read() readIndex', 256), log256),
      'lease / log @256': ratio(at('raftchart read() lease', 256), log256),
      'readIndex / etcd Range @256': ratio(at('raftchart read() readIndex', 256), etcd256),
      'lease / etcd Range @256': ratio(at('raftchart read() lease', 256), etcd256),
      'readIndex / etcd Range @1': ratio(at('raftchart read() readIndex', 1), etcd1),
      'lease / etcd Range @1': ratio(at('raftchart read() lease', 1), etcd1),
    };
    const result: ReadBenchResult = { startedAt, machine, etcd, plan, rows, ratios };
    const table = formatTable(
      ['reads', 'clients', 'ops/s', 'p50 ms', 'p99 ms'],
      rows.map((r) => [r.kind, String(r.concurrency), Math.round(r.opsPerSec).toLocaleString('en-US'), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2)]),
      1,
    );
    for (const line of table) print(line);
    for (const [name, value] of Object.entries(ratios)) print(`${name}: ${value === null ? '—' : `${value.toFixed(2)}×`}`);
    print(`wrote ${await writeResultFile(options.resultsDir, resultFileName('reads-', startedAt), result)}`);
    return result;
  } finally {
    await Promise.all([...running].map((cluster) => cluster.stop()));
    await rm(root, { recursive: true, force: true });
  }
}
