import { parseArgs } from 'node:util';
import { runDemo } from '../sim/demo.ts';
import { benchCommand } from './bench-command.ts';
import { clusterCommand } from './cluster-command.ts';
import { kvCommand } from './kv-command.ts';
import { serveCommand } from './serve-command.ts';
import { machinesCommand } from './machines-command.ts';
import { simCommand, UsageError } from './sim-command.ts';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const usage = `usage: raftchart <command> [options]

commands:
  demo [--nodes 5] [--commands 3] [--seed 1]   a simulated cluster elects a leader and commits commands
  sim  …                                       the deterministic simulator (raftchart sim --help)
  cluster [--nodes 5] …                        a live cluster of worker threads (raftchart cluster --help)
  bench [--quick] …                            raftchart (and etcd) under load: ops/s, latency (raftchart bench --help)
  serve --id n1 --listen … --peers … --data-dir DIR   one server per process, peers over TCP (raftchart serve --help)
  kv set|get|delete KEY [VALUE] --servers …    a serve cluster's key-value store over the network (raftchart kv --help)
  machines [--format json|mermaid|svg]         write the statecharts to docs/machines (raftchart machines --help)`;

/** The `raftchart` command: argv in, library calls, an exit code out. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await dispatch(command, rest, io);
  } catch (error) {
    if (error instanceof UsageError || (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      io.err(`raftchart ${command}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

async function dispatch(command: string | undefined, rest: readonly string[], io: CliIo): Promise<number> {
  switch (command) {
    case 'demo':
      return demo(rest, io);
    case 'sim':
      return simCommand(rest, io);
    case 'cluster':
      return clusterCommand(rest, io);
    case 'serve':
      return serveCommand(rest, io);
    case 'kv':
      return kvCommand(rest, io);
    case 'bench':
      return benchCommand(rest, io);
    case 'machines':
      return machinesCommand(rest, io);
    case undefined:
    case 'help':
    case '--help':
      io.out(usage);
      return 0;
    default:
      io.err(`raftchart: unknown command '${command}'\n${usage}`);
      return 2;
  }
}

function demo(argv: readonly string[], io: CliIo): number {
  const { values } = parseArgs({
    args: [...argv],
    options: { nodes: { type: 'string', default: '5' }, commands: { type: 'string', default: '3' }, seed: { type: 'string', default: '1' } },
  });
  const nodes = Number(values.nodes);
  const commands = Number(values.commands);
  const seed = Number(values.seed);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
    io.err('raftchart demo: --nodes must be a whole number from 1 to 9');
    return 2;
  }
  const result = runDemo({ nodes, commands, seed, print: io.out });
  if (result.leader === null) {
    io.err('no leader was elected');
    return 1;
  }
  return 0;
}
