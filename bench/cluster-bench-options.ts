import { parseArgs } from 'node:util';
import { updatesPerSecBusyDefault, updatesPerSecMaxDefault, updatesPerSecMaxLimit } from '../src/inspect/inspector-server.ts';
import { RaftchartError } from '../src/protocol/errors.ts';
import { minimumCommandBytes } from './raftchart-load.ts';

/** One raftchart cluster to measure at every concurrency. */
export interface ClusterShape {
  readonly nodes: number;
  /** Command size in bytes. */
  readonly bytes: number;
  readonly fsync: boolean;
}

/** `--inspector-page`: what the inspector page costs one 3-server, 100 B, fsync-on cluster (bench/inspector-page.ts). */
export interface InspectorPagePlan {
  /** The inspector's updatesPerSecMax. */
  readonly updatesPerSecond: number;
  /** The inspector's updatesPerSecBusy: the rate a loaded cluster's page actually gets. */
  readonly updatesPerSecBusy: number;
  /** Closed-loop clients: the largest --concurrency given, else inspectorPageConcurrencyDefault. */
  readonly concurrency: number;
  /** Repetitions of closed, blank and open windows: --reps, else inspectorPageRepsDefault (4 with --quick, 8 without). */
  readonly reps: number;
}

/** The concurrency raftchart is fastest at on this machine (3 servers, 100 B, fsync on). */
export const inspectorPageConcurrencyDefault = 1024;
/** Even, so that each window kind runs as often early in a cluster's life as late (the order flips every repetition). */
export const inspectorPageRepsDefault = { quick: 4, full: 8 } as const;

/** What the cluster benchmark measures. */
export interface ClusterBenchOptions {
  /** raftchart's clusters; etcd runs 3 members (fsync on, its default) at each command size among them. */
  readonly shapes: readonly ClusterShape[];
  /** Closed-loop clients, each with one command in flight. */
  readonly concurrency: readonly number[];
  /** Measured time per configuration and repetition. */
  readonly durationMs: number;
  /** Unmeasured time before each measurement, at the same concurrency. */
  readonly warmupMs: number;
  /** Repetitions; each starts fresh clusters, and repetitions interleave the configurations. */
  readonly reps: number;
  /** 'auto': etcd runs when the `etcd` binary is on PATH. */
  readonly etcd: 'auto' | 'off';
  /** Measure the raw disk and postMessage limits in the same run. */
  readonly limits: boolean;
  /** Where temporary logs go (it must be on the disk to measure); default: the OS temp folder. */
  readonly dir?: string;
  /** Where the JSON and the SVG go. */
  readonly resultsDir: string;
  readonly quick: boolean;
  readonly help: boolean;
  /** Also measure the inspector page's cost; null without --inspector-page. */
  readonly inspectorPage: InspectorPagePlan | null;
  /** `--processes`: raftchart as `raftchart serve` processes over TCP through RaftClient (bench/serve-load.ts) instead of in-process. */
  readonly processes: boolean;
  /** With --processes: the RaftClients this process spreads its closed-loop clients over. */
  readonly raftClients: number;
}

/**
 * The default matrix, ~10–12 minutes on 2 cores: one axis at a time around 3 servers, 100 B,
 * fsync on (1 and 5 servers; fsync off; 1 KiB), each at every concurrency; etcd at every
 * concurrency and size; 3 repetitions of 4 s after 1 s of warm-up each.
 */
const defaultMatrix = {
  nodes: [1, 3, 5],
  concurrency: [1, 16, 64, 256, 1024],
  bytes: [100, 1024],
  fsync: [true, false],
  durationMs: 4000,
  warmupMs: 1000,
  reps: 3,
} as const;

/** The configuration the targets are about: 3 servers, 100 B commands, fsync on. */
export const centerShape: ClusterShape = { nodes: 3, bytes: 100, fsync: true };

/** `center`, then each value of each axis with the other two at the center's values. */
function shapesAround(center: ClusterShape, axes: { nodes: readonly number[]; bytes: readonly number[]; fsync: readonly boolean[] }): ClusterShape[] {
  return [
    center,
    ...axes.nodes.filter((nodes) => nodes !== center.nodes).map((nodes) => ({ ...center, nodes })),
    ...axes.fsync.filter((fsync) => fsync !== center.fsync).map((fsync) => ({ ...center, fsync })),
    ...axes.bytes.filter((bytes) => bytes !== center.bytes).map((bytes) => ({ ...center, bytes })),
  ];
}

/** Every combination of the lists. */
function everyShape(nodes: readonly number[], bytes: readonly number[], fsync: readonly boolean[]): ClusterShape[] {
  return nodes.flatMap((n) => bytes.flatMap((b) => fsync.map((f) => ({ nodes: n, bytes: b, fsync: f }))));
}

/** `--quick`: 3 servers, 100 B, fsync on, concurrency 1 and 256, with etcd when present: about a minute. */
const quickMatrix = {
  concurrency: [1, 256],
  durationMs: 2000,
  warmupMs: 500,
  reps: 3,
} as const;

const limitsMax = { nodes: 9, concurrency: 16_384, bytes: 1024 * 1024, durationMs: 3_600_000, reps: 100, raftClients: 64 };

/**
 * RaftClients the serve benchmark spreads its clients over. One carries every proposal of its
 * clients pipelined on one connection per server; on 2 shared cores (2026-12-02) 1, 4 and 16 gave
 * the same CPU per operation in this process (28–33 µs at 1024 clients) and ops/s alike within the
 * machine's noise, and this process used about half a core: it is not the bottleneck, and more
 * RaftClients on its one thread cannot add CPU. So one, as an application would open.
 */
export const raftClientsDefault = 1;

export const clusterBenchUsage = `cluster benchmark: closed-loop clients propose to the leader and wait until it applied each command

options:
  --quick                 3 servers, 100 B, fsync on, concurrency 1 and 256, with etcd: about a minute
  --nodes 1,3,5           raftchart server counts (etcd: always 3 members)
  --concurrency 1,16,64,256,1024
                          closed-loop clients, one command in flight each
  --bytes 100,1024        command size in bytes (etcd: value size)
  --fsync on,off          fdatasync before a server speaks (etcd: always its default, on)
  --duration-ms 4000      measured time per configuration and repetition
  --warmup-ms 1000        unmeasured time before each measurement
  --reps 3                repetitions (fresh clusters each; ops/s is the median, with min-max)
  --no-etcd               skip etcd even when the etcd binary is on PATH
  --no-limits             skip the raw disk and postMessage limit probes
  --dir DIR               where temporary logs go; it must be on the disk to measure
  --results-dir DIR       where <timestamp>.json, <timestamp>.svg and latest.svg go
  --processes             raftchart as 3 \`raftchart serve\` processes (fsync on, 100 B) over TCP through
                          RaftClient instead of in-process, beside etcd; their CPU counts (/proc)
  --raft-clients 1        with --processes: RaftClients the closed-loop clients are spread over
  --inspector-page [N[:M]]
                          then what the inspector page costs: 3 servers, 100 B, fsync on, 1024 clients
                          (or the largest --concurrency), windows with no page, with headless
                          Chromium on about:blank and with the page open, interleaved, 8 reps
                          (--quick: 4; or --reps); needs /usr/bin/chromium. Alone: the inspector's
                          defaults (2 updates/s, 1 while the cluster is busy, as it is here); N: N
                          updates/s busy or not; N:M: N, and M while busy (1-30 each)
Without --nodes, --bytes or --fsync: one axis at a time around 3 servers, 100 B, fsync on (1 and 5
servers; fsync off; 1 KiB), each at every concurrency, 3 repetitions of 4 s (~10-12 minutes).
With any of them: every combination of the lists given (the others at 3 servers, 100 B, fsync on).
With --processes: 3 servers, 100 B, fsync on as processes (or every combination of the lists given).`;

/**
 * Reads the benchmark's command line (no suite name). Explicit lists replace the matrix's; the
 * matrix is the default one, or the quick one with --quick. A bad option is InvalidOptions.
 */
export function parseClusterBenchArgs(argv: readonly string[], resultsDirDefault: string): ClusterBenchOptions {
  const values = parseOrExplain(withInspectorPageValue(argv));
  const base = values.quick ? quickMatrix : defaultMatrix;
  const lists = {
    nodes: listOf(values.nodes, 'nodes', 1, limitsMax.nodes),
    bytes: listOf(values.bytes, 'bytes', minimumCommandBytes, limitsMax.bytes),
    fsync: values.fsync === undefined ? undefined : fsyncList(values.fsync),
  };
  const concurrency = listOf(values.concurrency, 'concurrency', 1, limitsMax.concurrency);
  const reps = values.reps === undefined ? undefined : wholeNumber(values.reps, 'reps', 1, limitsMax.reps);
  const explicit = lists.nodes !== undefined || lists.bytes !== undefined || lists.fsync !== undefined;
  if (values['raft-clients'] !== undefined && !values.processes) {
    throw new RaftchartError('InvalidOptions', '--raft-clients only applies with --processes (RaftClients of serve processes).', { option: 'raft-clients' });
  }
  return {
    shapes: explicit || values.quick || values.processes
      ? everyShape(lists.nodes ?? [centerShape.nodes], lists.bytes ?? [centerShape.bytes], lists.fsync ?? [centerShape.fsync])
      : shapesAround(centerShape, defaultMatrix),
    concurrency: concurrency ?? base.concurrency,
    durationMs: values['duration-ms'] === undefined ? base.durationMs : wholeNumber(values['duration-ms'], 'duration-ms', 100, limitsMax.durationMs),
    warmupMs: values['warmup-ms'] === undefined ? base.warmupMs : wholeNumber(values['warmup-ms'], 'warmup-ms', 0, limitsMax.durationMs),
    reps: reps ?? base.reps,
    etcd: values['no-etcd'] ? 'off' : 'auto',
    limits: !values['no-limits'],
    dir: values.dir,
    resultsDir: values['results-dir'] ?? resultsDirDefault,
    quick: values.quick,
    help: values.help,
    inspectorPage:
      values['inspector-page'] === undefined
        ? null
        : {
            ...pageRates(values['inspector-page']),
            concurrency: concurrency === undefined ? inspectorPageConcurrencyDefault : Math.max(...concurrency),
            reps: reps ?? (values.quick ? inspectorPageRepsDefault.quick : inspectorPageRepsDefault.full),
          },
    processes: values.processes,
    raftClients: values['raft-clients'] === undefined ? raftClientsDefault : wholeNumber(values['raft-clients'], 'raft-clients', 1, limitsMax.raftClients),
  };
}

/** `--inspector-page` takes an optional value: alone (last, or before another option) it means the inspector's default rates. */
function withInspectorPageValue(argv: readonly string[]): string[] {
  const defaults = `${updatesPerSecMaxDefault}:${updatesPerSecBusyDefault}`;
  return argv.map((arg, i) => (arg === '--inspector-page' && (i + 1 === argv.length || argv[i + 1].startsWith('-')) ? `--inspector-page=${defaults}` : arg));
}

/** `N` (N updates a second, busy or not) or `N:M` (M while busy). */
function pageRates(text: string): Pick<InspectorPagePlan, 'updatesPerSecond' | 'updatesPerSecBusy'> {
  const parts = text.split(':');
  const rate = (part: string) => wholeNumber(part, 'inspector-page', 1, updatesPerSecMaxLimit, "the page's updates a second, N or N:M (M while the cluster is busy), whole numbers");
  if (parts.length > 2) rate(text);
  const updatesPerSecond = rate(parts[0]);
  return { updatesPerSecond, updatesPerSecBusy: parts.length === 2 ? rate(parts[1]) : updatesPerSecond };
}

function parseOrExplain(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        nodes: { type: 'string' },
        concurrency: { type: 'string' },
        bytes: { type: 'string' },
        fsync: { type: 'string' },
        'duration-ms': { type: 'string' },
        'warmup-ms': { type: 'string' },
        reps: { type: 'string' },
        'no-etcd': { type: 'boolean', default: false },
        'no-limits': { type: 'boolean', default: false },
        dir: { type: 'string' },
        'results-dir': { type: 'string' },
        'inspector-page': { type: 'string' },
        processes: { type: 'boolean', default: false },
        'raft-clients': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    throw new RaftchartError('InvalidOptions', `${(error as Error).message}; see --help for the options.`);
  }
}

function listOf(text: string | undefined, name: string, lo: number, hi: number): number[] | undefined {
  if (text === undefined) return undefined;
  const list = text.split(',').map((item) => wholeNumber(item.trim(), name, lo, hi, 'a comma list of whole numbers'));
  return [...new Set(list)].sort((a, b) => a - b);
}

function fsyncList(text: string): boolean[] {
  const list = text.split(',').map((item) => {
    const word = item.trim();
    if (word !== 'on' && word !== 'off') {
      throw new RaftchartError('InvalidOptions', `--fsync takes on, off or on,off, got '${text}'.`, { option: 'fsync' });
    }
    return word === 'on';
  });
  return [...new Set(list)].sort((a, b) => Number(b) - Number(a));
}

function wholeNumber(text: string, name: string, lo: number, hi: number, takes = 'a whole number'): number {
  const value = Number(text);
  if (text === '' || !Number.isInteger(value) || value < lo || value > hi) {
    throw new RaftchartError('InvalidOptions', `--${name} takes ${takes} from ${lo} to ${hi}, got '${text}'.`, {
      option: name,
    });
  }
  return value;
}
