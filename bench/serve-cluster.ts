import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, spawnServe, type ServeProcess } from '../src/net/serve-process.ts';
import { thisProcess, type ResourceProbe } from './closed-loop.ts';
import { cpuMicrosOf, rssBytesOf } from './proc-stat.ts';
import { etcdTiming } from './raftchart-load.ts';

/**
 * A raftchart cluster of `raftchart serve` processes on 127.0.0.1 for the benchmark (issue #18):
 * one server per process, peers over TCP, each with a client port, each in its own folder under
 * one temp folder on the measured disk, etcd's timing. Processes are stopped by the handles this
 * module spawned: SIGTERM (a clean stop: the log synced), SIGKILL after exitWaitMsMax. Should this
 * process die without stopping them, each stops by itself as its stdin closes
 * (src/net/serve-process.ts), or at the latest after the `lifetimeSeconds` it was started with.
 */

export interface ServeClusterSpec {
  readonly nodes: number;
  readonly fsync: boolean;
  /** Folder for the cluster's temp folder: on the disk to measure. */
  readonly parentDir: string;
  /** Each process stops by itself after this long: the bound on a run that was never stopped. */
  readonly lifetimeSeconds: number;
}

/** How long the processes get to start and print their ready line, and to exit after SIGTERM. */
const readyWaitMsMax = 60_000;
const exitWaitMsMax = 5_000;

export class ServeCluster {
  readonly #dir: string;
  readonly #processes: readonly ServeProcess[];
  #stopped: Promise<void> | null = null;

  private constructor(dir: string, processes: readonly ServeProcess[]) {
    this.#dir = dir;
    this.#processes = processes;
  }

  /** Starts `spec.nodes` serve processes (ids n1 … nN) and resolves once every one printed ready. */
  static async start(spec: ServeClusterSpec): Promise<ServeCluster> {
    const dir = await mkdtemp(join(spec.parentDir, 'raftchart-bench-serve-'));
    const ports = await freePorts(2 * spec.nodes);
    const ids = Array.from({ length: spec.nodes }, (_, i) => `n${i + 1}`);
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[2 * i]}`).join(',');
    const args = [
      '--election-timeout', `${etcdTiming.electionTimeoutMs[0]}-${etcdTiming.electionTimeoutMs[1]}`,
      '--heartbeat', String(etcdTiming.heartbeatIntervalMs),
      '--quiet',
      '--seconds', String(spec.lifetimeSeconds),
      ...(spec.fsync ? [] : ['--no-fsync']),
    ];
    const processes = ids.map((id, i) =>
      spawnServe({ id, listen: `127.0.0.1:${ports[2 * i]}`, peers, dataDir: join(dir, id), clientListen: `127.0.0.1:${ports[2 * i + 1]}`, args }),
    );
    const cluster = new ServeCluster(dir, processes);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all(processes.map((serve) => serve.ready)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the serve processes were not all ready within ${readyWaitMsMax} ms:\n${cluster.output()}`)), readyWaitMsMax);
        }),
      ]);
    } catch (error) {
      await cluster.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return cluster;
  }

  /** The servers' client addresses (host:port), in id order: what RaftClient.connect takes. */
  get clientAddresses(): string[] {
    return this.#processes.map((serve) => serve.spec.clientListen);
  }

  /** Each server's id and process id, in id order. */
  get members(): { readonly id: string; readonly pid: number | undefined }[] {
    return this.#processes.map((serve) => ({ id: serve.spec.id, pid: serve.child.pid }));
  }

  /**
   * CPU: the serve processes' (from /proc/<pid>/stat) plus this process's, which drives the load,
   * as etcd's probe counts its members; memory: the serve processes' resident sets.
   */
  get probe(): ResourceProbe {
    return {
      cpuMicros: () => thisProcess.cpuMicros() + this.#processes.reduce((sum, serve) => sum + cpuMicrosOf(serve.child.pid), 0),
      rssBytes: () => this.#processes.reduce((sum, serve) => sum + rssBytesOf(serve.child.pid), 0),
    };
  }

  /** Whether every process still runs (none crashed). */
  get running(): boolean {
    return this.#processes.every((serve) => serve.running());
  }

  /** What the processes printed, for an error message. */
  output(): string {
    return this.#processes.map((serve) => `--- ${serve.spec.id}\n${serve.output().trim()}`).join('\n');
  }

  /** SIGTERM to each process (SIGKILL after exitWaitMsMax), then the folder removed. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all(this.#processes.map((serve) => stopServe(serve)));
      await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#stopped;
  }
}

async function stopServe(serve: ServeProcess): Promise<void> {
  const timer = setTimeout(() => void serve.kill('SIGKILL'), exitWaitMsMax);
  try {
    await serve.kill('SIGTERM');
  } finally {
    clearTimeout(timer);
  }
}
