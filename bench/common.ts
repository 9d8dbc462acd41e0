import { mkdir, open, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * What the benchmarks share: the raw append + fdatasync loop (the disk's limit), latency samples,
 * CPU time, the machine's description, result files, plain-text tables and their cells.
 */

/** One timed run's raw numbers. */
export interface Round {
  records: number;
  ms: number;
  syncs: number;
  cpuMicros: number;
  latencies: Float64Array;
}

/** The raw loop: append one record, fdatasync, repeat, for `durationMs`, in a fresh folder `dir` removed afterwards. */
export async function rawAppendSyncRound(dir: string, recordBytes: number, durationMs: number): Promise<Round> {
  await mkdir(dir, { recursive: true });
  const file = await open(join(dir, 'raw.log'), 'a');
  const record = commandOf(recordBytes);
  const latencies = new LatencySamples();
  let records = 0;
  const cpuAtStart = process.cpuUsage();
  const start = performance.now();
  const stopAt = start + durationMs;
  let now = start;
  try {
    while (now < stopAt) {
      const sentAt = now;
      await file.write(record);
      await file.datasync();
      now = performance.now();
      latencies.add(now - sentAt);
      records++;
    }
  } finally {
    await file.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { records, ms: now - start, syncs: records, cpuMicros: cpuMicrosSince(cpuAtStart), latencies: latencies.values() };
}

/** This process's CPU time (user + system, every thread: the main thread and its workers) since `start`, in µs. */
export function cpuMicrosSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/** The most latencies kept per round: a fixed buffer, later samples overwrite at random. */
const latencySamplesMax = 200_000;

/** Keeps at most latencySamplesMax latencies, a uniform sample of all (reservoir sampling). */
export class LatencySamples {
  readonly #samples = new Float64Array(latencySamplesMax);
  #seen = 0;
  #state = 0x9e3779b9;

  add(ms: number): void {
    if (this.#seen < latencySamplesMax) {
      this.#samples[this.#seen] = ms;
    } else {
      const slot = this.#random() % (this.#seen + 1);
      if (slot < latencySamplesMax) this.#samples[slot] = ms;
    }
    this.#seen++;
  }

  values(): Float64Array {
    return this.#samples.slice(0, Math.min(this.#seen, latencySamplesMax));
  }

  /** xorshift32: deterministic, and no Math.random in a measurement. */
  #random(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }
}

/** The value at quantile `q` in [0, 1] of ascending `sorted`; NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A record's bytes: not all zeros, so nothing downstream can shortcut them. */
export function commandOf(bytes: number): Uint8Array {
  const command = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) command[i] = (i * 31 + 7) & 0xff;
  return command;
}

const fileSystemMagics: Record<number, string> = {
  0xef53: 'ext4',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x6969: 'nfs',
  0x794c7630: 'overlayfs',
};

export async function fileSystemName(dir: string): Promise<string> {
  const { type } = await statfs(dir);
  return fileSystemMagics[type] ?? `type 0x${type.toString(16)}`;
}

/** The device `dir` lives on, from the longest mount point in /proc/mounts that holds it; 'unknown' off Linux. */
async function deviceOf(dir: string): Promise<string> {
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const path = resolve(dir);
  let best = { mountPoint: '', device: 'unknown' };
  for (const line of mounts.split('\n')) {
    const [device, mountPoint] = line.split(' ');
    if (mountPoint === undefined) continue;
    const holds = path === mountPoint || path.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (holds && mountPoint.length > best.mountPoint.length) best = { mountPoint, device };
  }
  return best.device;
}

/** The machine a run measured, for the result file. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  /** 1, 5 and 15-minute load averages when the run started. */
  readonly loadAverage: readonly number[];
  readonly node: string;
  readonly platform: string;
  readonly tempDir: string;
  readonly fileSystem: string;
  readonly device: string;
}

export async function machineInfo(tempDir: string): Promise<MachineInfo> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage: loadAverageNow(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    tempDir,
    fileSystem: await fileSystemName(tempDir),
    device: await deviceOf(tempDir),
  };
}

/** 1, 5 and 15-minute load averages, two decimals. */
export function loadAverageNow(): number[] {
  return loadavg().map((load) => Math.round(load * 100) / 100);
}

/** A result file's name: `<prefix><startedAt with : and . replaced>.json`, safe on every file system. */
export function resultFileName(prefix: string, startedAt: string): string {
  return `${prefix}${startedAt.replace(/[:.]/g, '-')}.json`;
}

/** Writes `result` as indented JSON to `resultsDir/name` (creating the folder); returns the path. */
export async function writeResultFile(resultsDir: string, name: string, result: unknown): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, name);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** Lines of a plain-text table: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], leftColumns: number): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column < leftColumns ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The middle value of `values` (the mean of the two middle ones when their count is even); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** "100 B", "4 KiB": KiB only for whole kibibytes. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

/** A count rounded to a whole number with thousands separators ("12,345"); '-' when not finite. */
export function formatCount(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}
