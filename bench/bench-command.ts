import type { BenchCommand } from '../src/cli/bench-command.ts';
import { asUsageError } from '../src/cli/sim-command.ts';
import { runClusterBench } from './cluster-bench.ts';
import { clusterBenchUsage, parseClusterBenchArgs } from './cluster-bench-options.ts';

/**
 * `raftchart bench` from a clone of the repository: the cluster benchmark of `npm run bench`.
 * src/cli/bench-command.ts loads this file only from the TypeScript sources; the package ships no
 * bench/ (it drives etcd and a headless Chromium). Results go to ./bench-results unless
 * --results-dir says otherwise.
 */

const benchUsage = `raftchart bench: raftchart (and etcd when its binary is on PATH) under closed-loop load

  raftchart bench [--quick] [options]

${clusterBenchUsage}
default --results-dir: ./bench-results`;

const resultsDirDefault = 'bench-results';

/** `raftchart bench`: runs the cluster benchmark; returns the exit code. */
export const benchCommand: BenchCommand = async (argv, io) => {
  let options;
  try {
    options = parseClusterBenchArgs(argv, resultsDirDefault);
  } catch (error) {
    throw asUsageError(error);
  }
  if (options.help) {
    io.out(benchUsage);
    return 0;
  }
  await runClusterBench(options, io.out);
  return 0;
};
