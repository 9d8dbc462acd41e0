import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { allFaults, type SimFaults, type SimReport, type SimViolation } from './simulate.ts';
import type { SeedBatch } from './sweep-task.ts';

export interface SweepOptions {
  /** How many seeds to run: firstSeed, firstSeed + 1, … */
  readonly seeds: number;
  readonly firstSeed?: number;
  readonly nodes?: number;
  readonly durationMs?: number;
  readonly faults?: Partial<SimFaults>;
  /** Worker threads (default: every core). */
  readonly threads?: number;
  /** Called after each batch with the seeds done so far. */
  readonly onProgress?: (done: number, total: number, violations: number) => void;
}

export interface SweepSummary {
  readonly seeds: number;
  readonly virtualTimeMs: number;
  readonly elections: number;
  readonly committed: number;
  readonly crashes: number;
  readonly snapshotsTaken: number;
  readonly snapshotsRestored: number;
  readonly configChanges: number;
  /** Key-value client operations whose history was checked for linearizability, and the runs whose check ran out of budget. */
  readonly kvOperations: number;
  readonly linearizabilityUnchecked: number;
  readonly messages: number;
  readonly violations: readonly (SimViolation & { seed: number })[];
  readonly wallMs: number;
  readonly seedsPerSec: number;
}

/** Seeds per piscina job: big enough to amortise a message, small enough to show progress. */
const batchSeedsMax = 8;

/**
 * Runs `seeds` simulations over every core with a piscina pool (simulation is CPU-bound and
 * stateless per seed, the job piscina is for) and sums their reports.
 */
export async function sweep(options: SweepOptions): Promise<SweepSummary> {
  const started = performance.now();
  const firstSeed = options.firstSeed ?? 1;
  const faults: SimFaults = { ...allFaults, ...options.faults };
  const nodes = options.nodes ?? 5;
  const durationMs = options.durationMs ?? 10_000;
  const threads = Math.max(1, options.threads ?? availableParallelism());
  const pool = new Piscina({ filename: taskFile(), minThreads: threads, maxThreads: threads });
  const reports: SimReport[] = [];
  let violations = 0;
  try {
    const jobs: Promise<void>[] = [];
    for (let start = 0; start < options.seeds; start += batchSeedsMax) {
      const seeds = Array.from({ length: Math.min(batchSeedsMax, options.seeds - start) }, (_, i) => firstSeed + start + i);
      const batch: SeedBatch = { seeds, nodes, durationMs, faults };
      jobs.push(
        (pool.run(batch) as Promise<SimReport[]>).then((batchReports) => {
          reports.push(...batchReports);
          violations += batchReports.filter((r) => r.violation !== null).length;
          options.onProgress?.(reports.length, options.seeds, violations);
        }),
      );
    }
    await Promise.all(jobs);
  } finally {
    await pool.destroy();
  }
  reports.sort((a, b) => a.seed - b.seed);
  const wallMs = performance.now() - started;
  return {
    seeds: reports.length,
    virtualTimeMs: sum(reports, (r) => r.virtualTimeMs),
    elections: sum(reports, (r) => r.elections),
    committed: sum(reports, (r) => r.committed),
    crashes: sum(reports, (r) => r.crashes),
    snapshotsTaken: sum(reports, (r) => r.snapshotsTaken),
    snapshotsRestored: sum(reports, (r) => r.snapshotsRestored),
    configChanges: sum(reports, (r) => r.configChanges),
    kvOperations: sum(reports, (r) => r.kvOperations),
    linearizabilityUnchecked: sum(reports, (r) => (r.linearizability === 'unchecked' ? 1 : 0)),
    messages: sum(reports, (r) => r.messages),
    violations: reports.flatMap((r) => (r.violation === null ? [] : [{ ...r.violation, seed: r.seed }])),
    wallMs,
    seedsPerSec: reports.length / (wallMs / 1000),
  };
}

/** From the TypeScript sources a worker needs the tsx bootstrap; from dist/ the compiled task. */
function taskFile(): string {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './sweep-task-bootstrap.mjs' : './sweep-task.js', import.meta.url).href;
}

function sum(reports: readonly SimReport[], pick: (r: SimReport) => number): number {
  return reports.reduce((total, r) => total + pick(r), 0);
}
