import { simulate, type SimFaults, type SimReport } from './simulate.ts';

/** One piscina job: a batch of seeds, run one after another in a worker thread. */
export interface SeedBatch {
  readonly seeds: readonly number[];
  readonly nodes: number;
  readonly durationMs: number;
  readonly faults: SimFaults;
}

/** Runs every seed of the batch; reports are plain data (structured-cloneable). */
export function runSeedBatch(batch: SeedBatch): SimReport[] {
  return batch.seeds.map((seed) => simulate({ seed, nodes: batch.nodes, durationMs: batch.durationMs, faults: batch.faults }));
}

export default runSeedBatch;
