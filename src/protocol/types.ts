/** A server's name inside one cluster: 'n1' … 'nN'. */
export type NodeId = string;

/** The three Raft roles (§5.1). */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** What an entry carries: a client's command, a new leader's own no-op (§5.4.2, dissertation §6.4), or a configuration. */
export type EntryKind = 'command' | 'noop' | 'config';

/**
 * One log entry. Indexes start at 1; index 0 with term 0 is the empty log's sentinel.
 * Entries are immutable once created: every holder may share the same object.
 */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly command: Uint8Array;
}

/** The state a server must not forget across a crash (Figure 2: currentTerm, votedFor). */
export interface HardState {
  readonly term: number;
  readonly votedFor: NodeId | null;
}

/**
 * What a snapshot stands for (paper §7, Figure 13): the state machine after applying entries
 * 1..index, the term of entry `index`, and the configuration then. Index 0 is "no snapshot".
 */
export interface SnapshotMeta {
  /** The last included index. */
  readonly index: number;
  /** The last included term. */
  readonly term: number;
  /** The voting servers at `index`: the configuration a server restored from it belongs to. */
  readonly servers: readonly NodeId[];
  /** The learners (non-voters, dissertation §4.2.1) at `index`; omitted: none. */
  readonly learners?: readonly NodeId[];
}

/** A snapshot with its state machine bytes (what `StateMachine.snapshot()` returned). */
export interface Snapshot extends SnapshotMeta {
  readonly data: Uint8Array;
}

/** What recovery hands to a restarting server: its last synced hard state, snapshot and log. */
export interface RecoveredState {
  readonly hardState: HardState;
  /** The snapshot the log continues from; omitted or null: none, the log starts at index 1. */
  readonly snapshot?: Snapshot | null;
  /** The entries after the snapshot (after index 0 without one), in order and contiguous. */
  readonly entries: readonly Entry[];
}

export const emptyHardState: HardState = { term: 0, votedFor: null };
