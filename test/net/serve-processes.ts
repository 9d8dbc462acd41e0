import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * `raftchart serve` as real processes for the tests of src/net: spawn one (optionally inside a
 * network namespace), wait for its ready line, SIGKILL or SIGTERM it and wait until it is really
 * dead (a SIGKILLed child can linger as a zombie: /proc says so, `kill(pid, 0)` does not).
 */

const bin = fileURLToPath(new URL('../../bin/raftchart.mjs', import.meta.url));
/** A serve process ends by itself after this long, should the test that started it die. */
export const serveLifetimeSeconds = 180;

export interface ServeSpec {
  readonly id: string;
  /** host:port for peers. */
  readonly listen: string;
  /** id=host:port,… */
  readonly peers: string;
  readonly dataDir: string;
  /** host:port or a Unix socket path. */
  readonly clientListen: string;
  /** More flags (timing, --cluster, TLS). */
  readonly args?: readonly string[];
  /** Run inside this network namespace (`ip netns exec NS`). */
  readonly netns?: string;
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
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null>;
}

export function spawnServe(spec: ServeSpec): ServeProcess {
  const args = [
    bin,
    'serve',
    '--id', spec.id,
    '--listen', spec.listen,
    '--peers', spec.peers,
    '--data-dir', spec.dataDir,
    '--client-listen', spec.clientListen,
    '--seconds', String(serveLifetimeSeconds),
    ...(spec.args ?? []),
  ];
  const child = spec.netns === undefined ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('ip', ['netns', 'exec', spec.netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`${spec.id} ready`)) resolve();
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
    kill: async (signal) => {
      const pid = child.pid;
      if (pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      if (pid !== undefined) await untilDead(pid);
      return code;
    },
  };
}

/** Resolves once `pid` is gone or a zombie (state Z in /proc): it holds no socket and no lock then. */
async function untilDead(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    let state: string | null = null;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`process ${pid} still alive 2 s after it was killed`);
}

/** `count` distinct loopback ports free right now (each bound once to port 0 and released). */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  const servers = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
