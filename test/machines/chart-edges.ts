import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import type { AnyStateMachine } from 'xstate';
import { machineGraph, type TransitionInfo } from '../../src/inspect/machine-graph.ts';

/**
 * Transitions of a chart as one line each, for tests that list a chart's whole shape:
 * `source --label [guard]--> target` ('(machine)' for the root, '(stays)' for a targetless
 * transition, ' (reenter)' when the target is entered again).
 */
export function edgeLine(transition: TransitionInfo): string {
  const source = transition.source === '' ? '(machine)' : transition.source;
  const guard = transition.guard === null ? '' : ` [${transition.guard}]`;
  const target = transition.targets.length === 0 ? '(stays)' : transition.targets.map((path) => path || '(machine)').join(', ');
  return `${source} --${transition.label}${guard}--> ${target}${transition.reenter ? ' (reenter)' : ''}`;
}

export function edgeLines(machine: AnyStateMachine): string[] {
  return machineGraph(machine).transitions.map(edgeLine);
}

function nodesOf(node: DirectedGraphNode): DirectedGraphNode[] {
  return [node, ...node.children.flatMap(nodesOf)];
}

/** What `xstate/graph` sees: state ids, and `sourceId event targetId` for each edge it lists (it skips `always`). */
export function directedGraphView(machine: AnyStateMachine): { stateIds: string[]; edges: string[] } {
  const nodes = nodesOf(toDirectedGraph(machine));
  return {
    stateIds: nodes.map((node) => node.id),
    edges: nodes.flatMap((node) => node.edges.map((edge) => `${edge.source.id} ${edge.transition.eventType} ${edge.target.id}`)),
  };
}

/** The same edges from the machine-graph walker, for comparison with directedGraphView (which draws a targetless transition as a self-loop). */
export function walkerView(machine: AnyStateMachine): { stateIds: string[]; edges: string[] } {
  const graph = machineGraph(machine);
  const idOf = (path: string) => (path === '' ? graph.id : `${graph.id}.${path}`);
  return {
    stateIds: graph.states.map((state) => state.id),
    edges: graph.transitions
      .filter((transition) => transition.kind !== 'always')
      .flatMap((transition) =>
        (transition.targets.length === 0 ? [transition.source] : transition.targets).map((target) => `${idOf(transition.source)} ${transition.event} ${idOf(target)}`),
      ),
  };
}
