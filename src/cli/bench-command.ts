import type { CliIo } from './run-cli.ts';
import { UsageError } from './sim-command.ts';

/**
 * `raftchart bench` is a development command: its engine (bench/) drives etcd and a headless
 * Chromium, so it stays in the repository and the package does not ship it. From the TypeScript
 * sources this loads bench/bench-command.ts; from dist/ (an installed package) it refuses and says
 * where the benchmark runs. It imports a URL, not a string literal, so tsc neither follows it nor
 * emits bench/ into dist/.
 */

/** The benchmark's command: argv in, an exit code out (bench/bench-command.ts). */
export type BenchCommand = (argv: readonly string[], io: CliIo) => Promise<number>;

const benchEntry = new URL('../../bench/bench-command.ts', import.meta.url);

/** `raftchart bench`: runs the cluster benchmark from a clone; a UsageError from the package. */
export async function benchCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (!import.meta.url.endsWith('.ts')) {
    throw new UsageError(
      'the benchmark is a development command and the package does not ship it. ' +
        'Run it from a clone of the repository: npm install, then npm run bench -- --help.',
    );
  }
  const bench = (await import(benchEntry.href)) as { benchCommand: BenchCommand };
  return bench.benchCommand(argv, io);
}
