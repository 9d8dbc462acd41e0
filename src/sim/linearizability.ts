import { assert } from '../core/assert.ts';

/**
 * A linearizability checker for key-value client histories: Wing & Gong's search as refined by
 * Lowe ("Testing for linearizability", 2017), with porcupine's memoization of (linearized set,
 * state) and its per-key partitioning. Each key is an independent register, so a history is
 * linearizable iff every key's sub-history is (locality: Herlihy & Wing 1990, §3.5).
 *
 * Time rule: intervals are closed. An operation that returns at t and one invoked at the same t are
 * concurrent (either may take effect first), as in porcupine. This only ever admits more orders,
 * so a tie in a coarse clock can never raise a false alarm.
 */

export interface Operation {
  /** Who issued it: operations of one client never overlap in time. */
  readonly client: string;
  readonly kind: 'set' | 'get' | 'delete';
  readonly key: string;
  /** set: the value written. get: the value read (null: the key was absent). delete: ignored (null). For an indeterminate get, ignored. */
  readonly value: string | null;
  /** When the client sent it (any monotonic number, e.g. ms or simulated ms). */
  readonly invokedAt: number;
  /** When the client got the answer; null when the outcome is unknown (timed out, leader crashed): indeterminate. */
  readonly returnedAt: number | null;
}

export interface LinearizabilityResult {
  readonly ok: boolean;
  readonly key?: string;
  readonly explanation?: string;
  readonly steps: number;
  readonly gaveUp: boolean;
}

export const linearizabilityStepsMaxDefault = 1_000_000;
const explanationOperationsMax = 12;

/**
 * `{ ok: true, gaveUp: false }` proves linearizable; `{ ok: false }` proves not (key named);
 * `{ ok: true, gaveUp: true }` is unknown. stepsMax bounds the whole check; keys are searched
 * smallest first; the search stops at the first refuted key or when the budget runs out.
 */
export function checkLinearizable(history: readonly Operation[], options: { stepsMax?: number } = {}): LinearizabilityResult {
  const stepsMax = options.stepsMax ?? linearizabilityStepsMaxDefault;
  if (!Number.isInteger(stepsMax) || stepsMax < 1) {
    throw new RangeError(`checkLinearizable: stepsMax must be a positive integer, got ${stepsMax}`);
  }
  history.forEach(validateOperation);
  let steps = 0;
  for (const [key, operations] of partitionByKey(history)) {
    const outcome = checkKey(operations, stepsMax - steps);
    steps += outcome.steps;
    assert(steps <= stepsMax, `checker overspent its budget: ${steps} > ${stepsMax}`);
    if (outcome.verdict === 'gaveUp') return { ok: true, steps, gaveUp: true };
    if (outcome.verdict === 'violation') {
      return { ok: false, key, explanation: explain(key, operations, outcome.longestPrefix), steps, gaveUp: false };
    }
  }
  return { ok: true, steps, gaveUp: false };
}

function validateOperation(op: Operation, index: number): void {
  const where = `checkLinearizable: operation ${index} (${op.client} ${op.kind} ${JSON.stringify(op.key)})`;
  if (op.kind !== 'set' && op.kind !== 'get' && op.kind !== 'delete') {
    throw new RangeError(`${where}: unknown kind ${JSON.stringify(op.kind)}; expected 'set', 'get' or 'delete'`);
  }
  if (op.kind === 'set' && typeof op.value !== 'string') throw new RangeError(`${where}: a set must write a string value; record a removal as 'delete'`);
  if (!Number.isFinite(op.invokedAt)) throw new RangeError(`${where}: invokedAt must be a finite number, got ${op.invokedAt}`);
  if (op.returnedAt !== null) {
    if (!Number.isFinite(op.returnedAt)) throw new RangeError(`${where}: returnedAt must be finite, or null when unknown; got ${op.returnedAt}`);
    if (op.returnedAt < op.invokedAt) throw new RangeError(`${where}: returnedAt ${op.returnedAt} is before invokedAt ${op.invokedAt}`);
  }
}

/**
 * Each key's operations, fewest first. Left out, as constraining nothing: a get whose outcome is
 * unknown, and a set whose outcome is unknown and whose value no answered get saw (assuming it
 * never took effect explains at least as much as any order that places it; this is what keeps a
 * history with many timed-out writes searchable).
 */
function partitionByKey(history: readonly Operation[]): [string, Operation[]][] {
  const seen = new Set<string>();
  for (const op of history) {
    if (op.kind === 'get' && op.returnedAt !== null && op.value !== null) seen.add(`${op.key}\u0000${op.value}`);
  }
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (op.kind === 'get' && op.returnedAt === null) continue;
    if (op.kind === 'set' && op.returnedAt === null && !seen.has(`${op.key}\u0000${op.value}`)) continue;
    const operations = byKey.get(op.key);
    if (operations === undefined) byKey.set(op.key, [op]);
    else operations.push(op);
  }
  return [...byKey].sort(([keyA, opsA], [keyB, opsB]) => opsA.length - opsB.length || (keyA < keyB ? -1 : keyA > keyB ? 1 : 0));
}

type RegisterState = string | null;

function step(state: RegisterState, op: Operation): RegisterState | undefined {
  switch (op.kind) {
    case 'set':
      return op.value;
    case 'delete':
      return null;
    case 'get':
      return op.value === state ? state : undefined;
  }
}

interface EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly operationOf: Int32Array;
  readonly returnOf: Int32Array;
}

const head = 0;
const listEnd = -1;

/** Indeterminate operations return at +Infinity, after every determinate return; ties: calls first. */
function buildEntryList(operations: readonly Operation[]): EntryList {
  const nodeCount = 1 + 2 * operations.length;
  const list: EntryList = {
    next: new Int32Array(nodeCount),
    prev: new Int32Array(nodeCount),
    operationOf: new Int32Array(nodeCount),
    returnOf: new Int32Array(nodeCount).fill(-1),
  };
  const events: { node: number; time: number; isCall: boolean; operation: number }[] = [];
  operations.forEach((op, i) => {
    const call = 2 * i + 1;
    list.operationOf[call] = i;
    list.operationOf[call + 1] = i;
    list.returnOf[call] = call + 1;
    events.push({ node: call, time: op.invokedAt, isCall: true, operation: i });
    events.push({ node: call + 1, time: op.returnedAt ?? Number.POSITIVE_INFINITY, isCall: false, operation: i });
  });
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.operation - b.operation);
  let previous = head;
  list.prev[head] = listEnd;
  for (const { node } of events) {
    list.next[previous] = node;
    list.prev[node] = previous;
    previous = node;
  }
  list.next[previous] = listEnd;
  return list;
}

function lift(list: EntryList, call: number): void {
  const { next, prev } = list;
  next[prev[call]] = next[call];
  prev[next[call]] = prev[call];
  const ret = list.returnOf[call];
  next[prev[ret]] = next[ret];
  if (next[ret] !== listEnd) prev[next[ret]] = prev[ret];
}

function unlift(list: EntryList, call: number): void {
  const { next, prev } = list;
  const ret = list.returnOf[call];
  next[prev[ret]] = ret;
  if (next[ret] !== listEnd) prev[next[ret]] = ret;
  next[prev[call]] = call;
  prev[next[call]] = call;
}

class Bitset {
  private static readonly charsPerChunk = 4096;
  private readonly words: Uint32Array;
  private readonly halves: Uint16Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
    this.halves = new Uint16Array(this.words.buffer);
  }
  set(i: number): void {
    this.words[i >>> 5] |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5] &= ~(1 << (i & 31));
  }
  toKey(): string {
    let key = '';
    for (let start = 0; start < this.halves.length; start += Bitset.charsPerChunk) {
      key += String.fromCharCode(...this.halves.subarray(start, start + Bitset.charsPerChunk));
    }
    return key;
  }
}

function memoKey(linearized: Bitset, state: RegisterState): string {
  return linearized.toKey() + (state === null ? '-' : `+${state}`);
}

type KeyOutcome =
  | { readonly verdict: 'ok' | 'gaveUp'; readonly steps: number }
  | { readonly verdict: 'violation'; readonly steps: number; readonly longestPrefix: readonly number[] };

function checkKey(operations: readonly Operation[], stepsBudget: number): KeyOutcome {
  const list = buildEntryList(operations);
  const linearized = new Bitset(operations.length);
  const explored = new Set<string>();
  const stackCalls = new Int32Array(operations.length);
  const stackStates: RegisterState[] = [];
  let depth = 0;
  let state: RegisterState = null;
  let determinateLeft = operations.filter((op) => op.returnedAt !== null).length;
  let longestPrefix: number[] | null = null;
  let steps = 0;
  let node = list.next[head];
  while (determinateLeft > 0) {
    if (steps === stepsBudget) return { verdict: 'gaveUp', steps };
    steps++;
    assert(node !== listEnd, 'linearizability search walked off the end of the entry list');
    if (list.returnOf[node] !== -1) {
      const operation = list.operationOf[node];
      const op = operations[operation];
      const stateAfter = step(state, op);
      if (stateAfter === undefined) {
        node = list.next[node];
        continue;
      }
      linearized.set(operation);
      const key = memoKey(linearized, stateAfter);
      if (explored.has(key)) {
        linearized.clear(operation);
        node = list.next[node];
        continue;
      }
      explored.add(key);
      stackCalls[depth] = node;
      stackStates[depth] = state;
      depth++;
      state = stateAfter;
      lift(list, node);
      if (op.returnedAt !== null) determinateLeft--;
      node = list.next[head];
    } else {
      if (longestPrefix === null || depth > longestPrefix.length) {
        longestPrefix = Array.from(stackCalls.subarray(0, depth), (call) => list.operationOf[call]);
      }
      if (depth === 0) return { verdict: 'violation', steps, longestPrefix };
      depth--;
      const call = stackCalls[depth];
      state = stackStates[depth];
      const operation = list.operationOf[call];
      linearized.clear(operation);
      unlift(list, call);
      if (operations[operation].returnedAt !== null) determinateLeft++;
      node = list.next[call];
    }
  }
  return { verdict: 'ok', steps };
}

function explain(key: string, operations: readonly Operation[], longestPrefix: readonly number[]): string {
  const placed = new Set(longestPrefix);
  let state: RegisterState = null;
  for (const i of longestPrefix) {
    const stateAfter = step(state, operations[i]);
    assert(stateAfter !== undefined, `the longest prefix of key ${JSON.stringify(key)} does not replay at operation ${i}`);
    state = stateAfter;
  }
  const list = buildEntryList(operations);
  const next: number[] = [];
  for (let node = list.next[head]; node !== listEnd; node = list.next[node]) {
    const operation = list.operationOf[node];
    if (placed.has(operation)) continue;
    if (list.returnOf[node] === -1) break;
    next.push(operation);
  }
  return [
    `key ${JSON.stringify(key)} has no linearization (${operations.length} operations on it).`,
    `Longest linearizable prefix found (${longestPrefix.length} operations):`,
    ...listOperations(operations, longestPrefix, 'last'),
    `after which the key ${state === null ? 'is absent' : `holds ${JSON.stringify(state)}`}; none of these can take effect next:`,
    ...listOperations(operations, next, 'first'),
  ].join('\n');
}

function listOperations(operations: readonly Operation[], indices: readonly number[], keep: 'first' | 'last'): string[] {
  if (indices.length === 0) return ['  (none)'];
  const omitted = Math.max(0, indices.length - explanationOperationsMax);
  const start = keep === 'last' ? omitted : 0;
  const lines = indices.slice(start, start + explanationOperationsMax).map((i, n) => `  ${start + n + 1}. ${describeOperation(operations[i])}`);
  if (omitted === 0) return lines;
  const note = `  (${omitted} ${keep === 'last' ? 'earlier' : 'more'} not shown)`;
  return keep === 'last' ? [note, ...lines] : [...lines, note];
}

function describeOperation(op: Operation): string {
  const interval = op.returnedAt === null ? `[${op.invokedAt}, ?) outcome unknown` : `[${op.invokedAt}, ${op.returnedAt}]`;
  const action =
    op.kind === 'set'
      ? `set ${JSON.stringify(op.key)} = ${JSON.stringify(op.value)}`
      : op.kind === 'delete'
        ? `delete ${JSON.stringify(op.key)}`
        : `get ${JSON.stringify(op.key)} read ${op.value === null ? 'absent' : JSON.stringify(op.value)}`;
  return `${op.client}: ${action} ${interval}`;
}
