import { emitKeypressEvents } from 'node:readline';
import { parseArgs } from 'node:util';
import { LocalCluster, leaderOf, stateShown, type NodeStatus } from '../cluster/local-cluster.ts';
import { ProcessCluster } from '../net/process-cluster.ts';
import type { ViewedCluster } from '../cluster/viewed-cluster.ts';
import { Random } from '../core/random.ts';
import type { NodeId } from '../protocol/types.ts';
import { configurationText, runCommand, type InspectorCommand } from '../inspect/inspector-commands.ts';
import { askEveryServer } from '../inspect/inspector-feed.ts';
import { Inspector } from '../inspect/inspector-server.ts';
import { ServerIds } from '../inspect/server-ids.ts';
import type { CliIo } from './run-cli.ts';
import { asUsageError, UsageError, wholeNumber } from './sim-command.ts';
import { startStatelyBridge, statelyPortDefault, type StatelyBridge } from '../inspect/stately-bridge.ts';

export const clusterUsage = `raftchart cluster: a local cluster of worker threads on real files

  raftchart cluster [--nodes 5 | --processes 3] [--data-dir DIR] [--election-timeout 150-300] [--heartbeat 50]
                    [--no-fsync] [--no-check-quorum] [--disk-faults] [--seed N] [--duration-ms N | --seconds N]
                    [--snapshot-every 10000] [--snapshot-keep 1000] [--inspect] [--port 4000]
--processes N: N \`raftchart serve\` processes on free loopback ports instead of worker threads,
  peers over TCP (etcd's timing unless given: --election-timeout 1000-2000 --heartbeat 100); the
  view and the inspector read them over their client ports; keys crash (SIGKILL) and restart them,
  p/h cut and heal links inside the servers; no unreliable network, disk faults or membership keys.
--disk-faults: each server's log behind a fault-injecting file system, so that the inspector page's
  "fail disk" button can break it (LocalCluster's diskFaults; npm start turns it on).
--snapshot-every N: each server snapshots its state machine every N applied entries and drops its
  log behind the snapshot, less --snapshot-keep entries (§7); 0 = never on its own.
--no-check-quorum: a leader cut off from the majority keeps leading its term (by default it steps
  down after a minimum election timeout without hearing from a majority: CheckQuorum).
--inspect: serve the live inspector page on http://127.0.0.1:4000/ (any free port when 4000 is
  taken); --port N serves it on port N exactly (and implies --inspect; 0 = any free port).
--stately: stream every server's statecharts to Stately's inspector: open the printed
  http://localhost:8080 page (it frames https://stately.ai/inspect, so the browser must be
  online); --stately-port N relays on port N instead (and implies --stately).
on a terminal: a live view; keys 1-9 crash/restart the server in that row, p partition (random
  halves), h heal, u toggle an unreliable network, b propose a burst of 100 commands, a add a
  learner (next free id), o then a row's digit promote that learner to voter, r then a row's digit
  remove that server (it is stopped once the removal commits), q or Ctrl-C stop.
otherwise: a status line per second until SIGINT/SIGTERM, --duration-ms or --seconds.`;

/** How often the live view redraws, and how often the plain output prints a line. */
const liveViewMs = 250;
const plainLineMs = 1000;
const burstCommands = 100;

interface ClusterCommandOptions {
  readonly nodes: number;
  readonly dataDir?: string;
  readonly electionTimeoutMs: readonly [number, number];
  readonly heartbeatIntervalMs: number;
  readonly fsync: boolean;
  readonly checkQuorum: boolean;
  readonly diskFaults: boolean;
  readonly snapshotEvery: number;
  readonly snapshotKeepEntries: number;
  readonly seed?: number;
  readonly durationMs?: number;
}

/** The inspector's port when --inspect is given without --port; a free one when it is taken. */
export const inspectorPortDefault = 4000;

/** Where the live view reads its keys: the terminal (raw mode), or any stream of key presses. */
export type KeyInput = NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?(raw: boolean): unknown };

/** `raftchart cluster`: runs a LocalCluster until told to stop; returns the exit code. With `tty`, the live view reads `keys`. */
export async function clusterCommand(
  argv: readonly string[],
  io: CliIo,
  tty = process.stdout.isTTY === true && process.stdin.isTTY === true,
  keys: KeyInput = process.stdin,
): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      nodes: { type: 'string' },
      processes: { type: 'string' },
      'data-dir': { type: 'string' },
      'election-timeout': { type: 'string' },
      heartbeat: { type: 'string' },
      'no-fsync': { type: 'boolean', default: false },
      'no-check-quorum': { type: 'boolean', default: false },
      'disk-faults': { type: 'boolean', default: false },
      'snapshot-every': { type: 'string', default: '10000' },
      'snapshot-keep': { type: 'string', default: '1000' },
      seed: { type: 'string' },
      'duration-ms': { type: 'string' },
      seconds: { type: 'string' },
      inspect: { type: 'boolean', default: false },
      port: { type: 'string' },
      stately: { type: 'boolean', default: false },
      'stately-port': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    io.out(clusterUsage);
    return 0;
  }
  const processes = values.processes === undefined ? null : wholeNumber(values.processes, 'processes', 1, 9);
  if (processes !== null && values.nodes !== undefined) throw new UsageError('give --nodes (worker threads) or --processes (serve processes), not both');
  for (const flag of ['disk-faults', 'stately', 'stately-port', 'seed'] as const) {
    if (processes !== null && values[flag] !== undefined && values[flag] !== false) throw new UsageError(`--${flag} is for worker threads; serve processes (--processes) have none`);
  }
  const electionTimeout = values['election-timeout'] ?? (processes === null ? '150-300' : '1000-2000');
  const range = /^(\d+)-(\d+)$/.exec(electionTimeout);
  if (range === null) throw new UsageError(`--election-timeout must look like 150-300 (milliseconds, min-max), got '${electionTimeout}'`);
  const options: ClusterCommandOptions = {
    nodes: processes ?? wholeNumber(values.nodes ?? '5', 'nodes', 1, 9),
    dataDir: values['data-dir'],
    electionTimeoutMs: [Number(range[1]), Number(range[2])],
    heartbeatIntervalMs: wholeNumber(values.heartbeat ?? (processes === null ? '50' : '100'), 'heartbeat', 1, 60_000),
    fsync: !values['no-fsync'],
    checkQuorum: !values['no-check-quorum'],
    diskFaults: values['disk-faults'],
    snapshotEvery: wholeNumber(values['snapshot-every'], 'snapshot-every', 0, 2 ** 31),
    snapshotKeepEntries: wholeNumber(values['snapshot-keep'], 'snapshot-keep', 0, 2 ** 31),
    seed: values.seed === undefined ? undefined : wholeNumber(values.seed, 'seed', 0, 2 ** 31),
    durationMs:
      values.seconds !== undefined
        ? wholeNumber(values.seconds, 'seconds', 0, 2 ** 21) * 1000
        : values['duration-ms'] === undefined
          ? undefined
          : wholeNumber(values['duration-ms'], 'duration-ms', 0, 2 ** 31),
  };
  // Checked before any server starts: --port N exactly, else 4000 or any free port.
  const inspectorPort = values.port !== undefined ? { port: wholeNumber(values.port, 'port', 0, 65_535), exact: true } : values.inspect ? { port: inspectorPortDefault, exact: false } : null;
  const stately = values.stately || values['stately-port'] !== undefined ? await startStately(values['stately-port'], io) : null;
  const cluster = await (processes !== null
    ? ProcessCluster.start({ ...options, processes })
    : LocalCluster.start(stately === null ? options : { ...options, onInspectionEvent: stately.send })
  ).catch((error: unknown) => {
    stately?.stop();
    throw asUsageError(error);
  });
  let inspector: Inspector | null = null;
  try {
    if (inspectorPort !== null) inspector = await startInspector(cluster, inspectorPort);
    if (inspector !== null) io.out(`inspector: ${inspector.url}`);
    // The live view clears the screen: it repeats the pages to open on every frame.
    const links = [...(inspector === null ? [] : [`inspector: ${inspector.url}`]), ...(stately === null ? [] : [`Stately: ${stately.url}`])];
    await (tty ? liveView(cluster, options, io, links, keys) : plainView(cluster, options, io));
  } finally {
    await inspector?.close();
    await cluster.stop();
    stately?.stop();
  }
  return 0;
}

/** What the view's first line says of the cluster: the seed of worker threads, or the client addresses of serve processes. */
function describeCluster(cluster: ViewedCluster): string {
  return cluster instanceof ProcessCluster ? `serve processes, clients on ${cluster.clientAddresses.join(',')}` : `seed ${cluster.seed}`;
}

/** Stately's relay on --stately-port (default 8080); a taken port is a usage error. */
async function startStately(port: string | undefined, io: CliIo): Promise<StatelyBridge> {
  const bridge = await startStatelyBridge({ port: port === undefined ? statelyPortDefault : wholeNumber(port, 'stately-port', 0, 65_535) }).catch((error: unknown) => {
    throw asUsageError(error);
  });
  io.out(`Stately inspector: open ${bridge.url} in a browser that is online`);
  return bridge;
}

/** The inspector on its port; when that is taken, on any free port unless the port was given exactly. */
async function startInspector(cluster: ViewedCluster, { port, exact }: { readonly port: number; readonly exact: boolean }): Promise<Inspector> {
  try {
    return await Inspector.start(cluster, { port, portFallback: !exact });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EADDRINUSE') throw new UsageError(`--port ${port}: the port is taken; choose another, or --port 0 for any free port`);
    throw error;
  }
}

/** What one refresh shows: every server's status and the bus's message rate. */
class Sampler {
  #lastMessages = 0;
  #lastAt = performance.now();
  readonly started = performance.now();

  constructor(private readonly cluster: ViewedCluster) {}

  async sample(): Promise<{ statuses: NodeStatus[]; messagesPerSec: number; elapsedMs: number }> {
    const statuses = await askEveryServer(this.cluster, (id) => this.cluster.status(id));
    const now = performance.now();
    const messages = this.cluster.network.stats().messages;
    // A serve process restarted counts from 0 again: no rate for that interval.
    const messagesPerSec = Math.max(0, ((messages - this.#lastMessages) * 1000) / Math.max(1, now - this.#lastAt));
    this.#lastMessages = messages;
    this.#lastAt = now;
    return { statuses, messagesPerSec, elapsedMs: now - this.started };
  }
}

function shortStatus(s: NodeStatus): string {
  if (!s.alive || s.failed) return `${s.id} ${stateShown(s)}`;
  return `${s.id} ${s.role[0].toUpperCase()} t${s.term} c${s.commitIndex}/a${s.lastApplied} log${s.lastLogIndex} snap${s.snapshotIndex}`;
}

/** Not a terminal: a status line per second until a signal or --duration-ms. */
async function plainView(cluster: ViewedCluster, options: ClusterCommandOptions, io: CliIo): Promise<void> {
  io.out(`cluster of ${options.nodes} in ${cluster.dataDir} (${describeCluster(cluster)}); stop with Ctrl-C`);
  const sampler = new Sampler(cluster);
  await runUntilStopped(options.durationMs, plainLineMs, async () => {
    const { statuses, messagesPerSec, elapsedMs } = await sampler.sample();
    const leader = leaderOf(statuses);
    io.out(
      `${(elapsedMs / 1000).toFixed(1)}s leader ${leader?.id ?? '-'} term ${leader?.term ?? '-'} | ${statuses.map(shortStatus).join(' | ')} | ${messagesPerSec.toFixed(0)} msg/s`,
    );
  });
  io.out('stopped');
}

/**
 * Calls `tick` every `everyMs` until SIGINT/SIGTERM, `durationMs`, or `stop` is called; always
 * removes its signal handlers and timer.
 */
async function runUntilStopped(durationMs: number | undefined, everyMs: number, tick: () => Promise<void>, onStop?: (stop: () => void) => void): Promise<void> {
  await new Promise<void>((resolve) => {
    let done = false;
    let ticking = false;
    const stop = () => {
      if (done) return;
      done = true;
      clearInterval(interval);
      if (deadline !== undefined) clearTimeout(deadline);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    const interval = setInterval(() => {
      if (ticking || done) return;
      ticking = true;
      tick()
        .catch(() => undefined)
        .finally(() => {
          ticking = false;
        });
    }, everyMs);
    const deadline = durationMs === undefined ? undefined : setTimeout(stop, durationMs);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    onStop?.(stop);
  });
}

/** A key that waits for a row's digit to say which server it acts on. */
const rowKeys: Readonly<Record<string, { readonly command: 'promote' | 'remove'; readonly prompt: string }>> = {
  o: { command: 'promote', prompt: 'promote which learner? press its row (1-9); any other key cancels' },
  r: { command: 'remove', prompt: 'remove which server? press its row (1-9); any other key cancels' },
};

/** The server in row `key` (1-9) of the live view, which lists cluster.nodeIds in order, or undefined. */
function serverInRow(cluster: ViewedCluster, key: string): NodeId | undefined {
  const row = /^[1-9]$/.test(key) ? Number(key) : 0;
  return row >= 1 && row <= cluster.nodeIds.length ? cluster.nodeIds[row - 1] : undefined;
}

/** A terminal: the live view, redrawn ~4×/s, with keys to inject faults and change the membership. */
async function liveView(cluster: ViewedCluster, options: ClusterCommandOptions, io: CliIo, links: readonly string[], keys: KeyInput): Promise<void> {
  const sampler = new Sampler(cluster);
  const random = new Random(cluster.seed, 'cli');
  const serverIds = new ServerIds();
  let proposed = 0;
  let last: NodeStatus[] = [];
  let note = '';
  /** A row key pressed (o, r): the next key names the server. */
  let awaitingRow: (typeof rowKeys)[string] | null = null;
  /** When each server's term last changed: its last election, as this view saw it. */
  const terms = new Map<NodeId, { term: number; atMs: number }>();
  emitKeypressEvents(keys);
  if (keys.isTTY === true) keys.setRawMode?.(true);
  keys.resume();
  /** A key as the inspector page's command for it (src/inspect/inspector-commands.ts), or null for none. */
  const commandOf = async (key: string): Promise<InspectorCommand | null> => {
    if (awaitingRow !== null) {
      const { command } = awaitingRow;
      awaitingRow = null;
      const node = serverInRow(cluster, key);
      note = node === undefined ? `${command}: cancelled (no server in row ${JSON.stringify(key)})` : `${command} ${node}…`;
      return node === undefined ? null : { command, node };
    }
    const node = serverInRow(cluster, key);
    if (node !== undefined) return { command: (await cluster.status(node)).alive ? 'crash' : 'restart', node };
    if (key === 'p') {
      const ids = [...cluster.nodeIds].sort(() => random.float() - 0.5);
      const half = Math.ceil(ids.length / 2);
      return { command: 'partition', groups: [ids.slice(0, half), ids.slice(half)] };
    }
    if (key === 'h') return { command: 'heal' };
    if (key === 'u') return { command: 'setReliable', reliable: !cluster.network.isReliable() };
    if (key === 'b') return { command: 'propose', count: burstCommands };
    if (key === 'a') {
      note = 'adding a learner…';
      return { command: 'addLearner' };
    }
    if (rowKeys[key] !== undefined) {
      awaitingRow = rowKeys[key];
      note = awaitingRow.prompt;
    }
    return null;
  };
  const act = async (key: string): Promise<void> => {
    const command = await commandOf(key);
    if (command === null) return;
    note = await runCommand(cluster, command, { leader: leaderOf(last)?.id, nextKey: () => proposed++, serverIds });
  };
  try {
    await runUntilStopped(
      options.durationMs,
      liveViewMs,
      async () => {
        const { statuses, messagesPerSec, elapsedMs } = await sampler.sample();
        last = statuses;
        for (const s of statuses) {
          const seen = terms.get(s.id);
          if (seen === undefined || seen.term !== s.term) terms.set(s.id, { term: s.term, atMs: elapsedMs });
        }
        for (const id of terms.keys()) if (!statuses.some((s) => s.id === id)) terms.delete(id);
        draw(io, cluster, statuses, terms, messagesPerSec, elapsedMs, cluster.network.isReliable(), [...links, note].join('   '));
      },
      (stop) => {
        keys.on('keypress', (_: string, key: { name?: string; sequence?: string; ctrl?: boolean }) => {
          if (key.name === 'q' || (key.ctrl === true && key.name === 'c')) stop();
          else act(key.name ?? key.sequence ?? '').catch((error: unknown) => (note = errorNote(error)));
        });
      },
    );
  } finally {
    if (keys.isTTY === true) keys.setRawMode?.(false);
    keys.pause();
    keys.removeAllListeners('keypress');
  }
}

/** A refused key's error as the view shows it: its code, then what to do. */
function errorNote(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' ? `${code}: ${message}` : message;
}

/** The state column: down or failed, else its role, or "learner" while its own configuration makes it one (§4.2.1). */
function stateColumn(s: NodeStatus): string {
  if (!s.alive || s.failed) return stateShown(s).toUpperCase();
  return s.learners.includes(s.id) ? 'learner' : s.role;
}

function draw(
  io: CliIo,
  cluster: ViewedCluster,
  statuses: readonly NodeStatus[],
  terms: ReadonlyMap<NodeId, { atMs: number }>,
  messagesPerSec: number,
  elapsedMs: number,
  reliable: boolean,
  note: string,
): void {
  const sinceElection = (id: NodeId) => `${((elapsedMs - (terms.get(id)?.atMs ?? 0)) / 1000).toFixed(1)} s ago`;
  const leader = leaderOf(statuses);
  const lines = [
    '\x1b[H\x1b[2J' + `raftchart cluster — ${statuses.length} servers, ${(elapsedMs / 1000).toFixed(0)} s, ${describeCluster(cluster)}, ${cluster.dataDir}`,
    `leader ${leader?.id ?? '-'}   network ${reliable ? 'reliable' : 'UNRELIABLE'}   ${messagesPerSec.toFixed(0)} msg/s`,
    '',
    'row server  state      term  leader  commit  applied    log  snapshot  log from  last election  its configuration',
    ...statuses.map((s, i) =>
      [
        (i < 9 ? String(i + 1) : '').padStart(3),
        s.id.padEnd(7),
        stateColumn(s).padEnd(10),
        String(s.term).padStart(4),
        (s.leaderId ?? '-').padStart(7),
        String(s.commitIndex).padStart(7),
        String(s.lastApplied).padStart(8),
        String(s.lastLogIndex).padStart(6),
        (s.snapshots === 'unsupported' ? 'n/a' : String(s.snapshotIndex)).padStart(9),
        String(s.firstLogIndex).padStart(9),
        sinceElection(s.id).padStart(14),
        ` ${s.voters.length === 0 ? '-' : configurationText(s)}`,
      ].join(' '),
    ),
    '',
    'keys: 1-9 crash/restart row  p partition  h heal  u unreliable  b burst of 100  a add learner  o+row promote  r+row remove  q quit',
    note,
  ];
  io.out(lines.join('\n'));
}
