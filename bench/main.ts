import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLogBench } from './log-bench.ts';

/**
 * `npm run bench -- <suite> [--quick] [--dir <folder>]`. Suites: `log` (the durable log against the
 * raw disk). `cluster` is reserved for the whole-cluster benchmark. Results go to bench/results/.
 */

const usage = `usage: npm run bench -- <suite> [--quick] [--dir <folder>]
suites:
  log       durable-log chart + WAL on the real disk, beside a raw append + fdatasync loop
options:
  --quick   a few seconds instead of about a minute
  --dir     where temporary logs go (default: the OS temp folder; it must be on the disk to measure)`;

const resultsDir = join(fileURLToPath(new URL('.', import.meta.url)), 'results');

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { quick: { type: 'boolean', default: false }, dir: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  const suite = positionals[0];
  if (values.help || suite === undefined) {
    console.log(usage);
    return suite === undefined && !values.help ? 2 : 0;
  }
  switch (suite) {
    case 'log':
      await runLogBench({ quick: values.quick, parentDir: values.dir, resultsDir, print: (line) => console.log(line) });
      return 0;
    case 'cluster':
      console.error('the cluster benchmark is not written yet');
      return 2;
    default:
      console.error(`unknown suite '${suite}'\n${usage}`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
