import type { AnyStateMachine } from 'xstate';
import { durableLogMachine } from '../../machines/durable-log.machine.ts';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { assert } from '../core/assert.ts';
import { RaftchartError } from '../protocol/errors.ts';
import { machineGraph, type MachineGraph } from './machine-graph.ts';
import { toMermaid } from './mermaid.ts';
import { toSvg } from './svg.ts';

/**
 * The statechart documents `raftchart machines` writes to docs/machines, built in memory so a
 * test can compare them with the committed files. Deterministic: no timestamps, no absolute paths.
 */

/** The charts documented, by file name. */
export const documentedMachines: readonly { readonly name: string; readonly machine: AnyStateMachine }[] = [
  { name: 'raft-server', machine: raftServerMachine },
  { name: 'durable-log', machine: durableLogMachine },
];

export const machineDocFormats = ['json', 'mermaid', 'svg'] as const;
export type MachineDocFormat = (typeof machineDocFormats)[number];

const extensionOf: Record<MachineDocFormat, string> = { json: 'json', mermaid: 'mmd', svg: 'svg' };

/** One file to write: a bare file name and its text. */
export interface MachineDocFile {
  readonly name: string;
  readonly text: string;
}

/** The format named `text`; InvalidOptions for anything else. */
export function parseMachineDocFormat(text: string): MachineDocFormat {
  const format = machineDocFormats.find((candidate) => candidate === text);
  if (format === undefined) {
    throw new RaftchartError('InvalidOptions', `unknown format '${text}': use one of ${machineDocFormats.join(', ')}, or leave --format out for all of them.`, {
      option: 'format',
    });
  }
  return format;
}

/**
 * Every machine in each of `formats`; with all formats, also README.md, a page showing each
 * chart's SVG and its Mermaid source (GitHub renders the latter).
 */
export function machineDocFiles(formats: readonly MachineDocFormat[] = machineDocFormats): MachineDocFile[] {
  const files: MachineDocFile[] = [];
  const charts: DocumentedChart[] = [];
  for (const { name, machine } of documentedMachines) {
    const graph = machineGraph(machine);
    const texts = new Map<MachineDocFormat, string>();
    for (const format of formats) {
      const text = format === 'json' ? `${JSON.stringify(graph, null, 2)}\n` : format === 'mermaid' ? toMermaid(graph) : toSvg(graph);
      texts.set(format, text);
      files.push({ name: `${name}.${extensionOf[format]}`, text });
    }
    charts.push({ name, graph, texts });
  }
  if (machineDocFormats.every((format) => formats.includes(format))) files.push({ name: 'README.md', text: indexPage(charts) });
  return files;
}

/** One documented chart: its graph and the text of each format made of it. */
interface DocumentedChart {
  readonly name: string;
  readonly graph: MachineGraph;
  readonly texts: ReadonlyMap<MachineDocFormat, string>;
}

/** The README of `charts`, each with its Mermaid text (so with every format). */
function indexPage(charts: readonly DocumentedChart[]): string {
  const sections = charts.map(({ name, graph, texts }) => {
    const mermaid = texts.get('mermaid');
    assert(mermaid !== undefined, `the README needs ${name}'s Mermaid text`);
    const description = graph.states[0]?.description ?? '';
    return [
      `## ${name}`,
      '',
      description,
      '',
      `![${name} statechart](${name}.svg)`,
      '',
      `Every state and transition, with guards, actions and descriptions: [${name}.json](${name}.json).`,
      '',
      '```mermaid',
      mermaid.trimEnd(),
      '```',
      '',
    ].join('\n');
  });
  return [
    '# Statecharts',
    '',
    'Generated from `machines/*.machine.ts` by `npx raftchart machines` (or `node bin/raftchart.mjs machines`);',
    'do not edit by hand. A test fails when these files no longer match the charts.',
    '',
    'Open an SVG on its own and hover a state or an arrow for its description, guards and actions. Transitions',
    'without a target (actions only) are listed in their state\'s box as `on …`.',
    '',
    ...sections,
  ].join('\n');
}
