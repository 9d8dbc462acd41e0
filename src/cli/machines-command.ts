import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { machineDocFiles, machineDocFormats, parseMachineDocFormat } from '../inspect/machine-docs.ts';
import type { CliIo } from './run-cli.ts';
import { asUsageError } from './sim-command.ts';

export const machinesUsage = `raftchart machines: write each statechart (raft-server, durable-log) as files

  raftchart machines [--format json|mermaid|svg] [--out docs/machines]
--format   one of ${machineDocFormats.join(', ')}; all of them (and a README.md) when left out
--out      the folder to write to, created if missing (default docs/machines)
json: every state and transition with guards, actions and descriptions; mermaid: a
stateDiagram-v2; svg: a drawing made offline. The same charts give the same bytes.`;

/** `raftchart machines`: writes the statechart documents; returns the exit code. */
export async function machinesCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      format: { type: 'string' },
      out: { type: 'string', default: join('docs', 'machines') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    io.out(machinesUsage);
    return 0;
  }
  const formats = values.format === undefined ? machineDocFormats : [toUsage(() => parseMachineDocFormat(values.format as string))];
  const folder = resolve(values.out);
  await mkdir(folder, { recursive: true });
  for (const file of machineDocFiles(formats)) {
    await writeFile(join(folder, file.name), file.text);
    io.out(`wrote ${join(values.out, file.name)}`);
  }
  return 0;
}

/** `parse()`, with an InvalidOptions error turned into a UsageError. */
function toUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw asUsageError(error);
  }
}
