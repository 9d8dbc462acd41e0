import { parseArgs } from 'node:util';
import { hasErrorCode } from '../protocol/errors.ts';
import { allFaults, noFaults, simulate, type SimFaults, type SimReport } from '../sim/simulate.ts';
import { sweep } from '../sim/sweep.ts';
import type { CliIo } from './run-cli.ts';

export const simUsage = `raftchart sim: the deterministic simulator

  raftchart sim --seed 42 [--trace]          run one seed; --trace prints every event
  raftchart sim --seeds 10000 [--first-seed 1] [--threads N]
                                             sweep seeds over every core, then a summary
options:
  --nodes 5                 servers, 1..9
  --duration 10000          virtual ms with faults; liveness is checked after
  --faults all              all | none | a comma list of: ${Object.keys(allFaults).join(', ')}
exit code 1 when any seed breaks an invariant.`;

/** `raftchart sim`: one seed or a sweep; returns the exit code. */
export async function simCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      'first-seed': { type: 'string', default: '1' },
      nodes: { type: 'string', default: '5' },
      duration: { type: 'string', default: '10000' },
      faults: { type: 'string', default: 'all' },
      threads: { type: 'string' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    io.out(simUsage);
    return 0;
  }
  const nodes = wholeNumber(values.nodes, 'nodes', 1, 9);
  const durationMs = wholeNumber(values.duration, 'duration', 0, 3_600_000);
  const faults = parseFaults(values.faults);
  if (values.seeds !== undefined) {
    const seeds = wholeNumber(values.seeds, 'seeds', 1, 100_000_000);
    const firstSeed = wholeNumber(values['first-seed'], 'first-seed', 0, 2 ** 31);
    const threads = values.threads === undefined ? undefined : wholeNumber(values.threads, 'threads', 1, 256);
    return runSweep({ seeds, firstSeed, nodes, durationMs, faults, threads }, io);
  }
  const seed = wholeNumber(values.seed ?? '1', 'seed', 0, 2 ** 31);
  const report = simulate({ seed, nodes, durationMs, faults, trace: values.trace ? io.out : undefined });
  printReport(report, io);
  return report.violation === null ? 0 : 1;
}

async function runSweep(
  options: { seeds: number; firstSeed: number; nodes: number; durationMs: number; faults: SimFaults; threads?: number },
  io: CliIo,
): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let lastShown = 0;
  io.out(`sweeping ${options.seeds} seeds from ${options.firstSeed}: ${options.nodes} servers, ${options.durationMs} ms of faults (${describeFaults(options.faults)})`);
  const summary = await sweep({
    ...options,
    onProgress: (done, total, violations) => {
      const line = `  ${done}/${total} seeds, ${violations} violation(s)`;
      if (tty) process.stdout.write(`\r${line}`);
      else if (done - lastShown >= total / 10 || done === total) {
        io.out(line);
        lastShown = done;
      }
    },
  });
  if (tty) process.stdout.write('\n');
  io.out(
    `seeds ${summary.seeds}  virtual time ${(summary.virtualTimeMs / 1000).toFixed(0)} s  elections ${summary.elections}  ` +
      `commits ${summary.committed}  crashes ${summary.crashes}  snapshots ${summary.snapshotsTaken} taken ${summary.snapshotsRestored} restored  membership changes ${summary.configChanges}  messages ${summary.messages}`,
  );
  io.out(`violations ${summary.violations.length}  wall ${(summary.wallMs / 1000).toFixed(1)} s  ${summary.seedsPerSec.toFixed(1)} seeds/s`);
  for (const violation of summary.violations.slice(0, 10)) {
    io.out(`  seed ${violation.seed}: ${violation.invariant}: ${violation.detail.split('\n')[0]}`);
    io.out(`    replay: ${violation.replay}`);
  }
  io.out(`client operations checked for linearizability ${summary.kvOperations}${summary.linearizabilityUnchecked > 0 ? `  (${summary.linearizabilityUnchecked} runs past the checker's budget, unchecked)` : ''}`);
  return summary.violations.length === 0 ? 0 : 1;
}

function printReport(report: SimReport, io: CliIo): void {
  io.out(
    `seed ${report.seed}: ${report.nodes} servers, ${(report.virtualTimeMs / 1000).toFixed(1)} s virtual, ${report.steps} steps, ` +
      `${report.elections} elections, ${report.leadersElected} leaders, ${report.committed} committed, ` +
      `${report.acknowledged} acknowledged, ${report.messages} messages (${report.messagesLost} lost), ${report.crashes} crashes, ` +
      `${report.snapshotsTaken} snapshots taken, ${report.snapshotsRestored} restored, ${report.configChanges} membership changes`,
  );
  io.out(`${report.kvOperations} client operations, linearizable: ${report.linearizability ?? 'not checked (stopped at a violation)'}`);
  const violation = report.violation;
  if (violation === null) {
    io.out('no invariant broken');
    return;
  }
  io.out(`VIOLATION of ${violation.invariant} at step ${violation.step} (${violation.timeMs} ms): ${violation.detail}`);
  io.out('last events:');
  for (const line of violation.recent) io.out(`  ${line}`);
  io.out(`replay: ${violation.replay}`);
}

function parseFaults(text: string): SimFaults {
  if (text === 'all') return allFaults;
  if (text === 'none') return noFaults;
  const faults: Record<string, boolean> = { ...noFaults };
  for (const name of text.split(',').map((s) => s.trim())) {
    if (!(name in noFaults)) throw new UsageError(`unknown fault '${name}': use all, none, or some of ${Object.keys(noFaults).join(', ')}`);
    faults[name] = true;
  }
  return faults as unknown as SimFaults;
}

function describeFaults(faults: SimFaults): string {
  const on = (Object.keys(faults) as (keyof SimFaults)[]).filter((k) => faults[k]);
  return on.length === 0 ? 'no faults' : on.join(', ');
}

/** The option `--name` as a whole number in [lo, hi]; a UsageError naming it otherwise. */
export function wholeNumber(text: string | undefined, name: string, lo: number, hi: number): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value < lo || value > hi) {
    throw new UsageError(`--${name} must be a whole number from ${lo} to ${hi}, got '${text}'`);
  }
  return value;
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/**
 * What to throw for `error` from a library call that checked a command-line value: an InvalidOptions
 * error becomes a UsageError with its message (so the usage is printed); anything else is unchanged.
 */
export function asUsageError(error: unknown): unknown {
  return hasErrorCode(error, 'InvalidOptions') ? new UsageError((error as Error).message) : error;
}
