import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { documentedMachines } from '../../src/inspect/machine-docs.ts';
import { activeStatePaths, machineGraph } from '../../src/inspect/machine-graph.ts';
import { toMermaid } from '../../src/inspect/mermaid.ts';
import { toSvg } from '../../src/inspect/svg.ts';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';

function stateGroups(svg: string): { classes: string; id: string; path: string }[] {
  return [...svg.matchAll(/<g class="(state[^"]*)" id="([^"]*)" data-state-path="([^"]*)">/g)].map(([, classes, id, path]) => ({ classes, id, path }));
}

describe.each(documentedMachines)('$name drawings', ({ machine }) => {
  const graph = machineGraph(machine);
  const withTarget = graph.transitions.filter((transition) => transition.targets.length > 0);

  it('SVG: one box per state, with its XState id and its path', () => {
    const svg = toSvg(graph);
    expect(stateGroups(svg).map(({ id, path }) => ({ id, path }))).toEqual(graph.states.map((state) => ({ id: state.id, path: state.path })));
    expect(stateGroups(svg).filter(({ classes }) => classes.includes('active'))).toEqual([]);
  });

  it('SVG: one arrow per source and target, labelled with each event that takes it', () => {
    const svg = toSvg(graph);
    for (const transition of withTarget) {
      for (const target of transition.targets) {
        const group = new RegExp(`<g class="transition" data-source="${transition.source}" data-target="${target}"[^>]*>([\\s\\S]*?)</g>`).exec(svg);
        expect(group, `arrow ${transition.source} → ${target}`).not.toBeNull();
        expect(group?.[1]).toContain(`>${transition.label}</text>`);
      }
    }
  });

  it('Mermaid: every transition with a target is an arrow or a note', () => {
    const mermaid = toMermaid(graph);
    expect(mermaid.startsWith('stateDiagram-v2\n')).toBe(true);
    for (const transition of withTarget) {
      const label = `${transition.label}${transition.guard === null ? '' : ` [${transition.guard}]`}`;
      expect(mermaid, `${transition.source} --${label}--> ${transition.targets.join(',')}`).toMatch(new RegExp(`(--> \\S+ : |from any state(?: in \\S+)?, )${escape(label)}\\n`));
    }
    for (const state of graph.states.filter((s) => s.path !== '' && s.children.length > 0)) expect(mermaid).toContain(`state ${state.key} {`);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('live drawing', () => {
  it('lights the states a snapshot is in', () => {
    const paths = activeStatePaths({ candidate: { requestingVotes: 'awaitingVotes' } });
    expect(paths).toEqual(['', 'candidate', 'candidate.requestingVotes', 'candidate.requestingVotes.awaitingVotes']);
    const svg = toSvg(machineGraph(raftServerMachine), { active: paths });
    expect(stateGroups(svg).filter(({ classes }) => classes.split(' ').includes('active')).map(({ path }) => path)).toEqual(paths);
  });

  it('can be bundled for a browser: the drawing modules import no node:* module', async () => {
    for (const module of ['machine-graph.ts', 'svg.ts', 'mermaid.ts']) {
      const source = await readFile(new URL(`../../src/inspect/${module}`, import.meta.url), 'utf8');
      expect(source, module).not.toMatch(/from '(node:|\.\.\/\.\.\/machines|\.\.\/io)/);
    }
  });
});
