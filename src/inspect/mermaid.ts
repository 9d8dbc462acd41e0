import { commonParent, isStrictAncestor, parentPath, stateAt, statesByPath, type MachineGraph, type StateInfo, type TransitionInfo } from './machine-graph.ts';

/**
 * A Mermaid `stateDiagram-v2` of a machine graph. Compound states nest; a transition with a target
 * is an arrow labelled `event [guard]`, written inside the innermost compound state holding both
 * ends. A transition a state takes for all its descendants (the root's `rpc.* [hasHigherTerm]` →
 * follower) is a note on its target, since Mermaid draws no arrow from a state to its own child.
 * Targetless transitions (actions only) are left out. Deterministic: the same graph, the same text.
 */
export function toMermaid(graph: MachineGraph): string {
  const byPath = statesByPath(graph);
  const ids = mermaidIds(graph);
  const lines = ['stateDiagram-v2'];
  writeBody(stateAt(byPath, ''), byPath, graph, ids, '  ', lines);
  return `${lines.join('\n')}\n`;
}

/** Writes `state`'s children, its initial arrow, the arrows that belong at its level and the notes on its children. */
function writeBody(state: StateInfo, byPath: ReadonlyMap<string, StateInfo>, graph: MachineGraph, ids: ReadonlyMap<string, string>, indent: string, lines: string[]): void {
  if (state.initial !== null) lines.push(`${indent}[*] --> ${ids.get(state.initial)}`);
  for (const childPath of state.children) {
    const child = stateAt(byPath, childPath);
    const id = ids.get(childPath);
    if (child.children.length === 0) {
      lines.push(`${indent}${id}`);
      continue;
    }
    lines.push(`${indent}state ${id} {`);
    writeBody(child, byPath, graph, ids, `${indent}  `, lines);
    lines.push(`${indent}}`);
  }
  const notes = new Map<string, string[]>();
  for (const transition of graph.transitions) {
    for (const target of transition.targets) {
      if (isStrictAncestor(transition.source, target)) {
        if (parentPath(target) !== state.path) continue;
        const from = transition.source === '' ? 'from any state' : `from any state in ${ids.get(transition.source)}`;
        const note = notes.get(target) ?? [];
        notes.set(target, [...note, `${from}, ${edgeLabel(transition)}`]);
      } else if (commonParent(transition.source, target) === state.path) {
        lines.push(`${indent}${ids.get(transition.source)} --> ${ids.get(target)} : ${edgeLabel(transition)}`);
      }
    }
  }
  for (const [target, note] of notes) lines.push(`${indent}note left of ${ids.get(target)}`, ...note.map((line) => `${indent}  ${line}`), `${indent}end note`);
}

/** Mermaid ids: a state's key when no other state shares it, else its path with '_' for '.'. */
function mermaidIds(graph: MachineGraph): Map<string, string> {
  const keyCounts = new Map<string, number>();
  for (const state of graph.states) keyCounts.set(state.key, (keyCounts.get(state.key) ?? 0) + 1);
  return new Map(
    graph.states.map((state) => [state.path, (keyCounts.get(state.key) === 1 ? state.key : state.path).replace(/[^A-Za-z0-9_]/g, '_')]),
  );
}

function edgeLabel(transition: TransitionInfo): string {
  const guard = transition.guard === null ? '' : ` [${transition.guard}]`;
  // ':' and ';' end a Mermaid label early; '#' starts an entity.
  return `${transition.label}${guard}`.replace(/[:;#]/g, ' ');
}
