import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { thisProcess, type ResourceProbe } from './closed-loop.ts';
import { EtcdConnection, memberStatus } from './etcd-grpc.ts';
import { cpuMicrosOf, rssBytesOf } from './proc-stat.ts';

/**
 * A 3-member etcd cluster on 127.0.0.1 for the comparison: free ports, each member in its own
 * folder under one temp folder on the measured disk, default durability (etcd fsyncs its WAL
 * before it acknowledges). Members are stopped by the process ids this module started.
 */

/** The `etcd` executable on PATH, or null. */
export function findEtcd(): string | null {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    if (folder === '') continue;
    const candidate = join(folder, 'etcd');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return null;
}

/** How long members get to elect a leader and serve, and to exit after SIGTERM. */
const readyWaitMsMax = 30_000;
const exitWaitMsMax = 5_000;
const readyPollMs = 50;
/** The backend's size limit: 8 GiB rather than 2, so a long run's revisions never raise the space alarm. */
const quotaBackendBytes = 8 * 1024 ** 3;
const stderrTailChars = 2000;

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly child: ChildProcess;
  stderrTail: string;
}

export class EtcdCluster {
  readonly #dir: string;
  readonly #members: Member[];
  #stopped: Promise<void> | null = null;

  private constructor(dir: string, members: Member[]) {
    this.#dir = dir;
    this.#members = members;
  }

  /** Starts `count` members of `etcd` in a temp folder under `parentDir`; resolves once one leads. */
  static async start(etcd: string, parentDir: string, count: number): Promise<EtcdCluster> {
    const dir = await mkdtemp(join(parentDir, 'raftchart-bench-etcd-'));
    const ports = await freePorts(2 * count);
    const names = Array.from({ length: count }, (_, i) => `m${i + 1}`);
    const peerUrl = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
    const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
    const members = names.map((name, i): Member => {
      const clientUrl = `http://127.0.0.1:${ports[2 * i]}`;
      const child = spawn(
        etcd,
        [
          `--name=${name}`,
          `--data-dir=${join(dir, name)}`,
          `--listen-client-urls=${clientUrl}`,
          `--advertise-client-urls=${clientUrl}`,
          `--listen-peer-urls=${peerUrl(i)}`,
          `--initial-advertise-peer-urls=${peerUrl(i)}`,
          `--initial-cluster=${initialCluster}`,
          '--initial-cluster-token=raftchart-bench',
          '--initial-cluster-state=new',
          `--quota-backend-bytes=${quotaBackendBytes}`,
          '--logger=zap',
          '--log-level=error',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const member: Member = { name, clientUrl, child, stderrTail: '' };
      child.stderr?.setEncoding('utf8').on('data', (text: string) => (member.stderrTail = (member.stderrTail + text).slice(-stderrTailChars)));
      return member;
    });
    const cluster = new EtcdCluster(dir, members);
    try {
      await cluster.#waitForLeader();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The leader's client URL (asked of every member in turn until one names a leader that answers). */
  async leaderUrl(): Promise<string> {
    return this.#waitForLeader();
  }

  async #waitForLeader(): Promise<string> {
    const giveUpAt = performance.now() + readyWaitMsMax;
    for (;;) {
      const exited = this.#members.find((member) => member.child.exitCode !== null || member.child.signalCode !== null);
      if (exited !== undefined) throw new Error(`etcd member ${exited.name} exited: ${exited.stderrTail.trim() || '(no output)'}`);
      const leader = await this.#askForLeader();
      if (leader !== null) return leader;
      if (performance.now() > giveUpAt) throw new Error(`etcd elected no leader within ${readyWaitMsMax} ms`);
      await sleep(readyPollMs);
    }
  }

  /** The client URL of the member that every answering member calls leader, or null (not ready, no leader yet). */
  async #askForLeader(): Promise<string | null> {
    const statuses = await Promise.all(
      this.#members.map(async (member) => {
        const connection = await EtcdConnection.open(member.clientUrl).catch(() => null);
        if (connection === null) return null;
        try {
          return { member, ...(await memberStatus(connection)) };
        } catch {
          return null;
        } finally {
          await connection.close();
        }
      }),
    );
    if (statuses.some((status) => status === null)) return null;
    const leaderId = statuses[0]?.leaderId;
    const leader = statuses.find((status) => status?.memberId === leaderId);
    if (leaderId === 0n || leader === undefined || !statuses.every((status) => status?.leaderId === leaderId)) return null;
    return leader?.member.clientUrl ?? null;
  }

  /**
   * CPU: the members' (from /proc/<pid>/stat) plus this process's, which drives the load;
   * memory: the members' resident sets (from /proc/<pid>/status).
   */
  get probe(): ResourceProbe {
    return {
      cpuMicros: () => thisProcess.cpuMicros() + this.#members.reduce((sum, member) => sum + cpuMicrosOf(member.child.pid), 0),
      rssBytes: () => this.#members.reduce((sum, member) => sum + rssBytesOf(member.child.pid), 0),
    };
  }

  /** SIGTERM to each member it started (SIGKILL after exitWaitMsMax), then its folder removed. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all(this.#members.map((member) => stopChild(member.child)));
      await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#stopped;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), exitWaitMsMax);
  await exited;
  clearTimeout(timer);
}

/** `count` distinct ports the OS had free a moment ago (all held open at once so none repeats). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
