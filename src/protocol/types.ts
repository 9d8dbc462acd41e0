/** A server's name inside one cluster: 'n1' … 'nN'. */
export type NodeId = string;

/** The three Raft roles (§5.1). */
export type Role = 'follower' | 'candidate' | 'leader';

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

/** What recovery hands to a restarting server: its last synced hard state and log. */
export interface RecoveredState {
  readonly hardState: HardState;
  /** Entries 1..n in order; entries[i].index === i + 1. */
  readonly entries: readonly Entry[];
}

export const emptyHardState: HardState = { term: 0, votedFor: null };
