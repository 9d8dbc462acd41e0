import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalCluster, RaftchartError, hasErrorCode } from '../src/index.ts';
import { loadAverageNow, machineInfo, median, resultFileName, writeResultFile, type MachineInfo } from './common.ts';
import { etcdTiming, keyValueCommandOf, clientKey, withRaftchartLoad, type RaftchartRun } from './raftchart-load.ts';
import { renderSoakChart } from './soak-chart.ts';

/**
 * `npm run bench -- soak`: does a loaded cluster stay in bounded memory and disk, and restart
 * in seconds (#14, paper §7)? 3 servers, fsync on, 256 closed-loop clients setting 1 KiB values
 * on 256 keys (the state machine stays small while the log would grow without end). First one
 * cluster, snapshots on, under load for the soak's minutes, with this process's RSS and the data
 * folder's bytes sampled every second; then stop() and start() on the same folder, timing start()
 * and the first new commit; then a short A/B of throughput with snapshots on and off (fresh
 * clusters, interleaved).
 */

export const soakUsage = `soak options (npm run bench -- soak ...):
  --minutes N       the loaded soak's length (default 10; --quick: 2)
  --quick           2 minutes, and a shorter throughput A/B
  --ab-reps N       A/B windows per side (default 3; --quick: 2)
  --snapshot-every N  (default 10000)   --snapshot-keep N (default 1000)
  --clients N       (default 256)       --keys N (default 256)     --bytes N (default 1024)
  --dir DIR         where the cluster's folder goes (default the OS temp folder: it must be on the disk to measure)`;

export interface SoakOptions {
  readonly minutes: number;
  readonly abReps: number;
  readonly abWindowMs: number;
  readonly snapshotEvery: number;
  readonly snapshotKeepEntries: number;
  readonly clients: number;
  readonly keys: number;
  readonly bytes: number;
  readonly parentDir: string;
  readonly resultsDir: string;
}

/** One sample of the soak, every sampleMs. */
export interface SoakSample {
  readonly atSec: number;
  readonly rssMb: number;
  readonly dataDirBytes: number;
  /** The largest of the servers' folders. */
  readonly serverDirBytesMax: number;
  readonly snapshotIndexMin: number;
}

const sampleMs = 1000;
const nodes = 3;
/** How long the soak waits for the first commit after the restart before calling it missed. */
const firstCommitWaitMs = 60_000;

export function parseSoakArgs(argv: readonly string[], resultsDir: string): SoakOptions & { readonly help: boolean } {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        minutes: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'ab-reps': { type: 'string' },
        'snapshot-every': { type: 'string', default: '10000' },
        'snapshot-keep': { type: 'string', default: '1000' },
        clients: { type: 'string', default: '256' },
        keys: { type: 'string', default: '256' },
        bytes: { type: 'string', default: '1024' },
        dir: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    throw new RaftchartError('InvalidOptions', `${(error as Error).message}; see --help for the options.`);
  }
  const whole = (text: string, option: string, min: number) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min) throw new RaftchartError('InvalidOptions', `--${option} must be a whole number >= ${min}, got '${text}'.`, { option });
    return value;
  };
  return {
    help: values.help,
    minutes: values.minutes === undefined ? (values.quick ? 2 : 10) : whole(values.minutes, 'minutes', 1),
    abReps: values['ab-reps'] === undefined ? (values.quick ? 2 : 3) : whole(values['ab-reps'], 'ab-reps', 1),
    abWindowMs: values.quick ? 8_000 : 15_000,
    snapshotEvery: whole(values['snapshot-every'], 'snapshot-every', 1),
    snapshotKeepEntries: whole(values['snapshot-keep'], 'snapshot-keep', 0),
    clients: whole(values.clients, 'clients', 1),
    keys: whole(values.keys, 'keys', 1),
    bytes: whole(values.bytes, 'bytes', 1),
    parentDir: values.dir ?? tmpdir(),
    resultsDir,
  };
}

/** Bytes of every file under `dir`, and of each server's folder in it. */
async function folderBytes(dir: string): Promise<{ total: number; perServerMax: number }> {
  let total = 0;
  let perServerMax = 0;
  for (const server of await readdir(dir).catch(() => [] as string[])) {
    let bytes = 0;
    for (const name of await readdir(join(dir, server)).catch(() => [] as string[])) {
      bytes += (await stat(join(dir, server, name)).catch(() => ({ size: 0 }))).size;
    }
    total += bytes;
    perServerMax = Math.max(perServerMax, bytes);
  }
  return { total, perServerMax };
}

interface Target {
  readonly name: string;
  readonly value: number;
  readonly bound: number;
  readonly met: boolean;
  readonly how: string;
}

function target(name: string, value: number, bound: number, atMost: boolean, how: string): Target {
  return { name, value, bound, met: atMost ? value <= bound : value >= bound, how };
}

/** Runs the soak; prints as it goes; returns the result file's path. */
export async function runSoak(options: SoakOptions, print: (line: string) => void): Promise<string> {
  const startedAt = new Date().toISOString();
  const machine: MachineInfo = await machineInfo(options.parentDir);
  const loadAtStart = loadAverageNow();
  const run = (snapshotEvery: number, dataDir?: string): RaftchartRun => ({
    nodes,
    bytes: options.bytes,
    fsync: true,
    parentDir: options.parentDir,
    keys: options.keys,
    cluster: { snapshotEvery, snapshotKeepEntries: options.snapshotKeepEntries },
    ...(dataDir === undefined ? {} : { dataDir }),
  });

  // 1. The soak (first, so that no earlier cluster's memory counts in its first minute): one cluster, snapshots on, sampled every second.
  const dataDir = await mkdtemp(join(options.parentDir, 'raftchart-soak-'));
  try {
    const samples: SoakSample[] = [];
    let snapshotBytesMax = 0;
    const soakStart = performance.now();
    const soakWindow = await withRaftchartLoad(run(options.snapshotEvery, dataDir), async (load) => {
      const sampler = setInterval(() => {
        void (async () => {
          const bytes = await folderBytes(dataDir);
          const statuses = await Promise.all(load.cluster.nodeIds.map((id) => load.cluster.status(id))).catch(() => []);
          for (const server of load.cluster.nodeIds) {
            for (const name of await readdir(join(dataDir, server)).catch(() => [] as string[])) {
              if (name.endsWith('.snap')) snapshotBytesMax = Math.max(snapshotBytesMax, (await stat(join(dataDir, server, name)).catch(() => ({ size: 0 }))).size);
            }
          }
          samples.push({
            atSec: Math.round((performance.now() - soakStart) / 100) / 10,
            rssMb: Math.round(process.memoryUsage.rss() / 1e5) / 10,
            dataDirBytes: bytes.total,
            serverDirBytesMax: bytes.perServerMax,
            snapshotIndexMin: Math.min(...statuses.map((s) => s.snapshotIndex)),
          });
          if (samples.length % 30 === 0) {
            const last = samples[samples.length - 1];
            print(`soak ${last.atSec.toFixed(0)} s: RSS ${last.rssMb} MB, data ${(last.dataDirBytes / 1e6).toFixed(1)} MB, snapshots ≥ ${last.snapshotIndexMin}`);
          }
        })();
      }, sampleMs);
      try {
        return await load.measure({ concurrency: options.clients, warmupMs: 1000, durationMs: options.minutes * 60_000 });
      } finally {
        clearInterval(sampler);
      }
    });
    const opsPerSec = soakWindow.ops / (soakWindow.ms / 1000);

    // 2. Restart on the same folder: start() and the first new commit.
    const restartAt = performance.now();
    const cluster = await LocalCluster.start({ nodes, fsync: true, dataDir, ...etcdTiming, snapshotEvery: options.snapshotEvery, snapshotKeepEntries: options.snapshotKeepEntries });
    const restartStartMs = performance.now() - restartAt;
    let restartToFirstCommitMs = Number.NaN;
    try {
      restartToFirstCommitMs = await firstCommit(cluster, restartAt, keyValueCommandOf(0, options.bytes, clientKey(0)));
    } finally {
      await cluster.stop();
    }

    // 3. Throughput with snapshots on and off, in the same run: fresh clusters, interleaved.
    const ab = { on: [] as number[], off: [] as number[] };
    for (let rep = 0; rep < options.abReps; rep++) {
      for (const side of rep % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const window = await withRaftchartLoad(run(side === 'on' ? options.snapshotEvery : 0), (load) =>
          load.measure({ concurrency: options.clients, warmupMs: 2000, durationMs: options.abWindowMs }),
        );
        const opsPerSec = window.ops / (window.ms / 1000);
        ab[side].push(opsPerSec);
        print(`A/B ${rep + 1}/${options.abReps}, snapshots ${side}: ${Math.round(opsPerSec).toLocaleString('en-US')} ops/s`);
      }
    }
    const onOverOff = median(ab.on) / median(ab.off);

    const firstMinute = samples.filter((s) => s.atSec <= 60);
    const lastMinute = samples.filter((s) => s.atSec > samples[samples.length - 1].atSec - 60);
    const rssMbFirstMinuteMax = Math.max(...firstMinute.map((s) => s.rssMb));
    const rssMbLastMinuteMax = Math.max(...lastMinute.map((s) => s.rssMb));
    const rssGrowth = rssMbLastMinuteMax / rssMbFirstMinuteMax;
    const dataDirBytesMax = Math.max(...samples.map((s) => s.dataDirBytes));
    const serverDirBytesMax = Math.max(...samples.map((s) => s.serverDirBytesMax));
    // One server's folder may hold two snapshots and 2 × snapshotEvery entries (each its command and ~10 bytes of framing).
    const serverDirBound = 2 * snapshotBytesMax + 2 * options.snapshotEvery * (options.bytes + 10);
    const targets: Target[] = [
      target('rssGrowth', rssGrowth, 1.2, true, 'RSS: the last minute\'s max over the first minute\'s max'),
      target('serverDirBytesMax', serverDirBytesMax, serverDirBound, true, 'a server\'s folder: ≤ 2 snapshots + 2 × snapshotEvery entries'),
      target('restartToFirstCommitMs', restartToFirstCommitMs, 3000, true, 'start() on the same folder to the first new commit'),
      target('snapshotsOnOverOff', onOverOff, 0.9, false, 'median ops/s with snapshots on over off, same run'),
    ];
    const result = {
      kind: 'soak',
      startedAt,
      machine,
      loadAverage: { atStart: loadAtStart, atEnd: loadAverageNow() },
      settings: { ...options, nodes, fsync: true, timing: etcdTiming },
      ab: { on: ab.on, off: ab.off, onOverOff },
      opsPerSec,
      committed: soakWindow.ops,
      rssMbFirstMinuteMax,
      rssMbLastMinuteMax,
      rssGrowth,
      dataDirBytesMax,
      serverDirBytesMax,
      serverDirBound,
      snapshotBytesMax,
      restartStartMs,
      restartToFirstCommitMs,
      targets,
      samples,
    };
    const name = resultFileName('soak-', startedAt);
    const file = await writeResultFile(options.resultsDir, name, result);
    await writeFile(file.replace(/\.json$/, '.svg'), renderSoakChart(`raftchart soak: ${nodes} servers, ${options.clients} clients, ${options.bytes} B sets to ${options.keys} keys, snapshotEvery ${options.snapshotEvery}`, samples));
    print(`soak: ${Math.round(opsPerSec).toLocaleString('en-US')} ops/s over ${options.minutes} min, ${soakWindow.ops.toLocaleString('en-US')} committed`);
    print(`RSS first minute max ${rssMbFirstMinuteMax} MB, last minute max ${rssMbLastMinuteMax} MB; data folder max ${(dataDirBytesMax / 1e6).toFixed(1)} MB (one server ${(serverDirBytesMax / 1e6).toFixed(1)} MB, bound ${(serverDirBound / 1e6).toFixed(1)} MB)`);
    print(`restart: start() ${Math.round(restartStartMs)} ms, first commit ${Math.round(restartToFirstCommitMs)} ms after start() was called`);
    for (const t of targets) print(`target: ${t.how}: ${Number(t.value.toFixed(3))} ${t.met ? 'met' : 'MISSED'} (bound ${Number(t.bound.toFixed(3))})`);
    print(`results: ${file}`);
    return file;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Milliseconds from `since` to the first command committed and applied on the leader, retrying NotLeader and Timeout. */
async function firstCommit(cluster: LocalCluster, since: number, command: Uint8Array): Promise<number> {
  const giveUpAt = since + firstCommitWaitMs;
  while (performance.now() < giveUpAt) {
    const statuses = await Promise.all(cluster.nodeIds.map((id) => cluster.status(id)));
    const leader = statuses.find((s) => s.role === 'leader');
    if (leader === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    try {
      await cluster.proposeAndWait(leader.id, command, { timeoutMs: 2000 });
      return performance.now() - since;
    } catch (error) {
      if (!hasErrorCode(error, 'NotLeader') && !hasErrorCode(error, 'Timeout')) throw error;
    }
  }
  return Number.NaN;
}
