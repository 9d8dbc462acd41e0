import { runClusterBench } from '../../bench/cluster-bench.ts';
import { clusterBenchUsage, parseClusterBenchArgs } from '../../bench/cluster-bench-options.ts';
import type { CliIo } from './run-cli.ts';
import { asUsageError } from './sim-command.ts';

/**
 * `raftchart bench`: the cluster benchmark of `npm run bench` (its engine lives in bench/ and
 * ships with the package; tsconfig compiles bench/ beside src/). Results go to ./bench-results
 * unless --results-dir says otherwise.
 */

const benchUsage = `raftchart bench: raftchart (and etcd when its binary is on PATH) under closed-loop load

  raftchart bench [--quick] [options]

${clusterBenchUsage}
default --results-dir: ./bench-results`;

const resultsDirDefault = 'bench-results';

/** `raftchart bench`: runs the cluster benchmark; returns the exit code. */
export async function benchCommand(argv: readonly string[], io: CliIo): Promise<number> {
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
}
