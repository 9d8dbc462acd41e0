import type { AnyStateMachine, AnyStateNode, StateValue } from 'xstate';
import { statePaths } from '../core/state-paths.ts';

/**
 * A statechart as plain data: every state and every transition of an XState v5 machine, read from
 * `machine.root`. Unlike `toDirectedGraph` from `xstate/graph`, it keeps eventless (`always`),
 * delayed (`after`), invoke-done/-error and targetless transitions, guards by name and actions by
 * name. The result is JSON-able and its order is the chart's document order, so it serializes the
 * same way every time. No node:* imports: a browser page may bundle this module.
 */

/** One state. `path` is the keys below the root joined with '.', '' for the root itself. */
export interface StateInfo {
  readonly path: string;
  /** XState's state id, e.g. 'raftServer.candidate.requestingVotes': unique in the machine. */
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The path of the initial child, null for an atomic state. */
  readonly initial: string | null;
  readonly description: string | null;
  readonly entry: readonly string[];
  readonly exit: readonly string[];
  /** The `src` of each actor the state invokes. */
  readonly invoke: readonly string[];
  /** Child state paths, in document order. */
  readonly children: readonly string[];
}

/** How a transition is triggered. */
export type TransitionKind = 'event' | 'after' | 'always' | 'done' | 'error';

/** One transition. A targetless transition (actions only) has `targets: []`. */
export interface TransitionInfo {
  readonly source: string;
  readonly kind: TransitionKind;
  /** The event type as XState names it: '' for `always`, `xstate.after.<delay>.<id>` for `after`. */
  readonly event: string;
  /** A short human label: the event type, 'after electionTimeout', 'always', 'done: writer'. */
  readonly label: string;
  /** Target state paths. */
  readonly targets: readonly string[];
  /** The guard by name; higher-order guards as 'and(a, b)', 'not(a)'; null when unguarded. */
  readonly guard: string | null;
  readonly actions: readonly string[];
  readonly reenter: boolean;
  readonly description: string | null;
}

export interface MachineGraph {
  /** The machine's id (its root state's key). */
  readonly id: string;
  /** States in document order, the root first. */
  readonly states: readonly StateInfo[];
  /** Transitions in document order: per state, events in config order, then `always`. */
  readonly transitions: readonly TransitionInfo[];
}

interface TransitionLike {
  readonly eventType: string | null;
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly actions?: readonly unknown[];
  readonly reenter: boolean;
  readonly description?: string;
}

/** The chart of `machine` as plain data (see MachineGraph). */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const states: StateInfo[] = [];
  const transitions: TransitionInfo[] = [];
  const visit = (node: AnyStateNode): void => {
    states.push(stateInfo(node));
    const delays = new Map<string, string>(node.after.map((transition) => [transition.eventType, String(transition.delay)]));
    const doneEvents = new Map<string, string>();
    for (const invoke of node.invoke) {
      doneEvents.set(`xstate.done.actor.${invoke.id}`, `done: ${String(invoke.src)}`);
      doneEvents.set(`xstate.error.actor.${invoke.id}`, `error: ${String(invoke.src)}`);
    }
    for (const [event, list] of node.transitions) {
      const delay = delays.get(event);
      const invoked = doneEvents.get(event);
      const kind: TransitionKind = delay !== undefined ? 'after' : invoked === undefined ? 'event' : invoked.startsWith('done') ? 'done' : 'error';
      const label = delay !== undefined ? `after ${delay}` : (invoked ?? event);
      for (const transition of list) transitions.push(transitionInfo(node, transition, kind, label));
    }
    for (const transition of node.always ?? []) transitions.push(transitionInfo(node, transition, 'always', 'always'));
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return { id: machine.root.key, states, transitions };
}

/** The state paths active in a snapshot's `value`, parents before children: { candidate: 'persistingVote' } → ['', 'candidate', 'candidate.persistingVote']. */
export function activeStatePaths(value: StateValue): string[] {
  const paths = new Set(['']);
  for (const leaf of statePaths(value)) {
    const keys = leaf.split('.');
    for (let depth = 1; depth <= keys.length; depth++) paths.add(keys.slice(0, depth).join('.'));
  }
  return [...paths];
}

/** The graph's states by path. */
export function statesByPath(graph: MachineGraph): Map<string, StateInfo> {
  return new Map(graph.states.map((state) => [state.path, state]));
}

/** The state at `path`; throws when the graph has none (a caller's bug). */
export function stateAt(byPath: ReadonlyMap<string, StateInfo>, path: string): StateInfo {
  const state = byPath.get(path);
  if (state === undefined) throw new Error(`no state '${path}' in the machine graph`);
  return state;
}

/** The path of `path`'s parent; the root ('') has none. */
export function parentPath(path: string): string | null {
  if (path === '') return null;
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/** True when `ancestor` is `path` or contains it. */
function isWithin(path: string, ancestor: string): boolean {
  return ancestor === '' || path === ancestor || path.startsWith(`${ancestor}.`);
}

/** True when `ancestor` strictly contains `path`. */
export function isStrictAncestor(ancestor: string, path: string): boolean {
  return ancestor !== path && isWithin(path, ancestor);
}

/** The innermost compound state strictly containing both `a` and `b` (the root at the latest). */
export function commonParent(a: string, b: string): string {
  let candidate = parentPath(a) ?? '';
  while (candidate !== '' && (!isWithin(b, candidate) || candidate === b)) candidate = parentPath(candidate) ?? '';
  return candidate;
}

/** The child of `ancestor` on the way down to `path` (which `ancestor` strictly contains). */
export function childToward(ancestor: string, path: string): string {
  const rest = ancestor === '' ? path : path.slice(ancestor.length + 1);
  const key = rest.split('.')[0];
  return ancestor === '' ? key : `${ancestor}.${key}`;
}

function pathOf(node: AnyStateNode): string {
  return node.path.join('.');
}

function stateInfo(node: AnyStateNode): StateInfo {
  const children = Object.values(node.states).map(pathOf);
  const initialTarget = node.type === 'compound' ? node.initial.target[0] : undefined;
  return {
    path: pathOf(node),
    id: node.id,
    key: node.key,
    type: node.type,
    initial: initialTarget === undefined ? null : pathOf(initialTarget),
    description: node.description ?? null,
    entry: actionNames(node.entry),
    exit: actionNames(node.exit),
    invoke: node.invoke.map((invoke) => String(invoke.src)),
    children,
  };
}

function transitionInfo(node: AnyStateNode, transition: TransitionLike, kind: TransitionKind, label: string): TransitionInfo {
  return {
    source: pathOf(node),
    kind,
    event: transition.eventType ?? '',
    label,
    targets: (transition.target ?? []).map(pathOf),
    guard: guardName(transition.guard),
    actions: actionNames(transition.actions ?? []),
    reenter: transition.reenter,
    description: transition.description ?? null,
  };
}

/** Named actions; XState's own bookkeeping (the raise and cancel behind `after`) is left out. */
function actionNames(actions: readonly unknown[]): string[] {
  const names: string[] = [];
  for (const action of actions) {
    const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
    if (typeof name === 'string' && name.startsWith('xstate.')) continue;
    names.push(typeof name === 'string' ? name : '(inline)');
  }
  return names;
}

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  const named = guard as { type?: unknown; name?: unknown; guards?: unknown };
  if (typeof named.type === 'string') return named.type;
  if (Array.isArray(named.guards)) return `${String(named.name)}(${named.guards.map(guardName).join(', ')})`;
  return '(inline)';
}
