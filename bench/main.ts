import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hasErrorCode, RaftchartError } from '../src/protocol/errors.ts';
import { runClusterBench } from './cluster-bench.ts';
import { clusterBenchUsage, parseClusterBenchArgs } from './cluster-bench-options.ts';
import { runLogBench } from './log-bench.ts';
import { parseSoakArgs, runSoak, soakUsage } from './soak.ts';
import { runReadBench } from './read-bench.ts';

/**
 * `npm run bench -- [cluster] [options]`: the cluster benchmark (raftchart against etcd, with the
 * machine's limits); `npm run bench -- log [--quick] [--dir <folder>]`: the durable log against the
 * raw disk. Results go to bench/results/.
 */

const usage = `usage: npm run bench -- [cluster] [options]     raftchart (and etcd when on PATH) under closed-loop load
       npm run bench -- log [--quick] [--dir DIR]  durable-log chart + WAL beside a raw append + fdatasync loop
       npm run bench -- soak [--minutes N] [--quick]  a cluster under load for minutes: memory, disk, restart (snapshots)
       npm run bench -- reads [--quick]            read() (ReadIndex, lease) beside reads through the log and etcd's Range

${clusterBenchUsage}

log options:
  --quick   a few seconds instead of about a minute
  --dir     where temporary logs go (default: the OS temp folder; it must be on the disk to measure)

${soakUsage}`;

const resultsDir = join(fileURLToPath(new URL('.', import.meta.url)), 'results');

async function main(argv: readonly string[]): Promise<number> {
  const [suite, ...rest] = argv;
  try {
    if (suite === 'log') return await logSuite(rest);
    if (suite === 'soak') return await soakSuite(rest);
    if (suite === 'reads') return await readsSuite(rest);
    const options = parseClusterBenchArgs(suite === 'cluster' ? rest : argv, resultsDir);
    if (options.help) {
      console.log(usage);
      return 0;
    }
    await runClusterBench(options, (line) => console.log(line));
    return 0;
  } catch (error) {
    if (!hasErrorCode(error, 'InvalidOptions')) throw error;
    console.error(`bench: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
}

async function logSuite(argv: readonly string[]): Promise<number> {
  const values = parseLogArgs(argv);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  await runLogBench({ quick: values.quick, parentDir: values.dir, resultsDir, print: (line) => console.log(line) });
  return 0;
}

async function readsSuite(argv: readonly string[]): Promise<number> {
  const values = parseLogArgs(argv);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  await runReadBench({ quick: values.quick, resultsDir }, (line) => console.log(line));
  return 0;
}

async function soakSuite(argv: readonly string[]): Promise<number> {
  const options = parseSoakArgs(argv, resultsDir);
  if (options.help) {
    console.log(usage);
    return 0;
  }
  await runSoak(options, (line) => console.log(line));
  return 0;
}

/** The log suite's options; an unknown or malformed one is InvalidOptions, as in the cluster suite. */
function parseLogArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: { quick: { type: 'boolean', default: false }, dir: { type: 'string' }, help: { type: 'boolean', default: false } },
    }).values;
  } catch (error) {
    throw new RaftchartError('InvalidOptions', `${(error as Error).message}; see --help for the options.`);
  }
}

process.exitCode = await main(process.argv.slice(2));
