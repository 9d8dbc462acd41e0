import type { Actor } from 'xstate';
import type { raftServerMachine } from '../../machines/raft-server.machine.ts';
import type { Entry, Snapshot } from '../protocol/types.ts';

/**
 * The replicated state machine a server applies committed entries to, in log order. `apply`'s
 * result goes to whoever waits on the entry; a thrown error becomes the result `{ error: message }`.
 * With `snapshot()` and `restore()` the server can compact its log (paper §7): `snapshot()` returns
 * the state after every entry applied so far, as bytes the machine owns no longer; `restore(bytes)`
 * replaces the whole state with one such snapshot (taken by this server or another).
 */
export interface StateMachine {
  apply(entry: Entry): unknown;
  snapshot?(): Uint8Array;
  restore?(bytes: Uint8Array): void;
  /**
   * Answers a read-only query against the state after every entry applied so far, changing
   * nothing: what `read()` runs once the leader has confirmed it still leads (ReadIndex,
   * dissertation §6.4). Without it, reads go through the log (proposeAndWait).
   */
  query?(query: Uint8Array): unknown;
}

/** A state machine that can snapshot and restore itself. */
export type SnapshottingStateMachine = StateMachine & Required<Pick<StateMachine, 'snapshot' | 'restore'>>;

/** True when `machine` has both snapshot() and restore(): only then may the server compact its log. */
export function canSnapshot(machine: StateMachine): machine is SnapshottingStateMachine {
  return typeof machine.snapshot === 'function' && typeof machine.restore === 'function';
}

/** What a host learns as the state machine is driven. */
export interface StateMachineHooks {
  /** Entries applied, in order, with each one's result (results[i] is entries[i]'s). */
  readonly onApplied?: (entries: readonly Entry[], results: readonly unknown[]) => void;
  /** The state machine was replaced by `snapshot` (a restart from it, or an InstallSnapshot). */
  readonly onRestored?: (snapshot: Snapshot) => void;
  /** The state machine's snapshot of entries 1..index was taken (before it is made durable). */
  readonly onSnapshotTaken?: (index: number, data: Uint8Array) => void;
}

/**
 * Carries out the raft-server chart's state-machine effects on `machine`, for any host: applies
 * each `state.apply`, answers each `state.snapshot` with `state.snapshotted` (the bytes of
 * `machine.snapshot()`, taken at once, when the machine has applied exactly 1..index) or
 * `state.snapshotFailed`, and restores each `state.restore`. The chart emits these in order
 * within a step, so a snapshot asked for after an apply sees that apply. Call before actor.start()
 * (a restarted chart emits `state.restore` as it starts).
 */
export function serveStateMachine(actor: Actor<typeof raftServerMachine>, machine: StateMachine, hooks: StateMachineHooks = {}): void {
  actor.on('state.apply', ({ entries }) => {
    if (entries.length === 0) return;
    const results: unknown[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) results[i] = applyOne(machine, entries[i]);
    hooks.onApplied?.(entries, results);
  });
  actor.on('state.snapshot', ({ index, term }) => {
    if (!canSnapshot(machine)) {
      actor.send({ type: 'state.snapshotFailed', index, reason: 'the state machine has no snapshot()' });
      return;
    }
    let data: Uint8Array;
    try {
      data = machine.snapshot();
    } catch (error) {
      actor.send({ type: 'state.snapshotFailed', index, reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    if (!(data instanceof Uint8Array)) {
      actor.send({ type: 'state.snapshotFailed', index, reason: 'snapshot() must return a Uint8Array' });
      return;
    }
    hooks.onSnapshotTaken?.(index, data);
    actor.send({ type: 'state.snapshotted', index, term, data });
  });
  actor.on('state.restore', ({ snapshot }) => {
    // The chart asks only when canSnapshot held (stateMachineSnapshots in its input); a throw is a bug of the machine.
    if (!canSnapshot(machine)) throw new Error('state.restore for a state machine without restore()');
    machine.restore(snapshot.data);
    hooks.onRestored?.(snapshot);
  });
}

/** Runs `query` on `machine`; a thrown error becomes the result `{ error: message }`, as for apply. */
export function queryOne(machine: StateMachine, query: Uint8Array): unknown {
  try {
    if (machine.query === undefined) return { error: 'the state machine has no query(): read through the log with proposeAndWait' };
    return machine.query(query);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

function applyOne(machine: StateMachine, entry: Entry): unknown {
  try {
    return machine.apply(entry);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
