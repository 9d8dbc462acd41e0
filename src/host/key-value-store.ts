import type { StateMachine } from './state-machine-host.ts';
import type { Entry, NodeId } from '../protocol/types.ts';

/**
 * The replicated state machine (src/host/state-machine-host.ts) as a server's worker runs it:
 * committed entries applied in log order, once per incarnation (a restarted server starts empty,
 * restores its newest snapshot when it has one, and re-applies the entries after it). `apply`
 * runs in the worker; its result must be structured-cloneable (it travels to the main thread
 * and resolves proposeAndWait).
 */
export type { StateMachine } from './state-machine-host.ts';

/** What a pluggable state machine module exports (ClusterOptions.stateMachine names it). */
export type StateMachineFactory = (nodeId: NodeId) => StateMachine;

/**
 * The default state machine: an in-memory key-value store. A command is UTF-8 JSON:
 * - `{"op":"set","key":K,"value":V}` → `{ ok: true, previous: V | null }`
 * - `{"op":"get","key":K}` → `{ ok: true, value: V | null }`
 * - `{"op":"delete","key":K}` → `{ ok: true, previous: V | null }`
 * Anything else (not JSON, an unknown op) → `{ ok: false, error }`, and the store is unchanged.
 * No-op and config entries change nothing and give null. query() answers a get without a log
 * entry (read()). Its snapshot is the UTF-8 JSON of its
 * [key, value] pairs, in insertion order.
 */
export class KeyValueStore implements StateMachine {
  #values = new Map<string, unknown>();

  snapshot(): Uint8Array {
    return utf8Encoder.encode(JSON.stringify([...this.#values]));
  }

  /** Replaces the whole store; throws on bytes that are not one of its snapshots (the store is then unchanged). */
  restore(bytes: Uint8Array): void {
    const pairs: unknown = JSON.parse(utf8.decode(bytes));
    if (!Array.isArray(pairs) || !pairs.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string')) {
      throw new TypeError('not a KeyValueStore snapshot: expected a JSON array of [key, value] pairs');
    }
    this.#values = new Map(pairs as [string, unknown][]);
  }

  apply(entry: Entry): unknown {
    if (entry.kind !== 'command') return null;
    const command = parseCommand(entry.command);
    if (typeof command === 'string') return { ok: false, error: command };
    const previous = this.#values.get(command.key) ?? null;
    switch (command.op) {
      case 'set':
        this.#values.set(command.key, command.value);
        return { ok: true, previous };
      case 'delete':
        this.#values.delete(command.key);
        return { ok: true, previous };
      default:
        return { ok: true, value: previous };
    }
  }

  /** A read-only query: `{"op":"get","key":K}` → `{ ok: true, value: V | null }`; any other op is refused, and nothing changes. */
  query(bytes: Uint8Array): unknown {
    const command = parseCommand(bytes);
    if (typeof command === 'string') return { ok: false, error: command };
    if (command.op !== 'get') return { ok: false, error: `a read runs only get, not ${command.op}: propose it instead` };
    return { ok: true, value: this.#values.get(command.key) ?? null };
  }

  get size(): number {
    return this.#values.size;
  }
}

interface KeyValueCommand {
  readonly op: 'set' | 'get' | 'delete';
  readonly key: string;
  readonly value?: unknown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** The command, or why it is not one. */
function parseCommand(bytes: Uint8Array): KeyValueCommand | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch {
    return 'the command is not UTF-8 JSON: encode {"op":"set","key":…,"value":…} with encodeKeyValueCommand';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'the command is not a JSON object';
  const { op, key } = parsed as { op?: unknown; key?: unknown };
  if (op !== 'set' && op !== 'get' && op !== 'delete') return `unknown op ${JSON.stringify(op)}: use set, get or delete`;
  if (typeof key !== 'string') return 'key must be a string';
  return { op, key, value: (parsed as { value?: unknown }).value };
}

/** Encodes a command for the default KeyValueStore. */
export function encodeKeyValueCommand(command: KeyValueCommand): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(command));
}

/** The default factory: a fresh, empty KeyValueStore. */
export const createKeyValueStore: StateMachineFactory = () => new KeyValueStore();
