import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * `raftchart serve` as a child process (for `raftchart cluster --processes`, the benchmark and the
 * tests): spawn one, optionally inside a network namespace; wait for its ready line; SIGKILL or
 * SIGTERM it and wait until it is really gone (a SIGKILLed child can linger as a zombie, and
 * `kill(pid, 0)` still answers for it: /proc's state says Z).
 */

export interface ServeSpec {
  readonly id: string;
  /** host:port for peers. */
  readonly listen: string;
  /** id=host:port,… */
  readonly peers: string;
  readonly dataDir: string;
  /** host:port or a Unix socket path. */
  readonly clientListen: string;
  /** More flags (timing, --cluster, TLS, --seconds). */
  readonly args?: readonly string[];
  /** Run inside this network namespace (`ip netns exec NS`). */
  readonly netns?: string;
  /** Stop the process (cleanly) when this one dies, through the end of its stdin: default true. */
  readonly stopWithParent?: boolean;
}

export interface ServeProcess {
  readonly spec: ServeSpec;
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string;
  /** Resolves once it printed its ready line; rejects if it exits first. */
  readonly ready: Promise<void>;
  /** Resolves with its exit code (null when killed by a signal) once it is gone. */
  readonly exited: Promise<number | null>;
  /** True until it exited. */
  readonly running: () => boolean;
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null>;
}

/** Output kept per process (the tail): enough for the ready line and the last errors. */
const outputCharsMax = 64 * 1024;

/** The raftchart command, from the sources (src/net) or from the build (dist/src/net). */
export function raftchartBin(): string {
  for (const relative of ['../../bin/raftchart.mjs', '../../../bin/raftchart.mjs']) {
    const path = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('bin/raftchart.mjs not found beside src/ or dist/');
}

export function spawnServe(spec: ServeSpec): ServeProcess {
  const withParent = spec.stopWithParent ?? true;
  const args = [
    raftchartBin(), 'serve', '--id', spec.id, '--listen', spec.listen, '--peers', spec.peers, '--data-dir', spec.dataDir, '--client-listen', spec.clientListen,
    ...(withParent ? ['--until-stdin-closes'] : []),
    ...(spec.args ?? []),
  ];
  const stdio: ['pipe' | 'ignore', 'pipe', 'pipe'] = [withParent ? 'pipe' : 'ignore', 'pipe', 'pipe'];
  const child = spec.netns === undefined ? spawn(process.execPath, args, { stdio }) : spawn('ip', ['netns', 'exec', spec.netns, process.execPath, ...args], { stdio });
  // The pipe stays open for the child's life; its end (this process gone) is the child's cue.
  child.stdin?.on('error', () => undefined);
  let output = '';
  let exitedYet = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitedYet = true;
      resolve(code);
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    let seen = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!seen && output.includes(`${spec.id} ready`)) {
        seen = true;
        resolve();
      }
      if (output.length > outputCharsMax) output = output.slice(-outputCharsMax / 2);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`serve ${spec.id} exited (${String(code)}) before it was ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  return {
    spec,
    child,
    output: () => output,
    ready,
    exited,
    running: () => !exitedYet,
    kill: async (signal) => {
      const pid = child.pid;
      if (pid !== undefined && !exitedYet) child.kill(signal);
      const code = await exited;
      if (pid !== undefined) await untilDead(pid);
      return code;
    },
  };
}

/** Resolves once `pid` is gone or a zombie (state Z in /proc): it holds no socket and no lock then. */
async function untilDead(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`process ${pid} still alive 5 s after it was killed`);
}

/** `count` distinct free ports on `host` right now (each bound once to port 0 and released). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, resolve);
    });
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
