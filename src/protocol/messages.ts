import type { Entry, NodeId } from './types.ts';

/** RequestVote (Figure 2, §5.2): a candidate asks for a vote, showing its last log position (§5.4.1). */
export interface RequestVote {
  readonly type: 'rpc.requestVote';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /**
   * The election a leader asked for with TimeoutNow (leader transfer, §3.10): voters answer it even
   * while they still hear from the leader, which otherwise (with CheckQuorum) makes them ignore it.
   */
  readonly transfer: boolean;
}

export interface RequestVoteReply {
  readonly type: 'rpc.requestVote.reply';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly voteGranted: boolean;
}

/** AppendEntries (Figure 2, §5.3): replication and heartbeat; `entries` may be empty. */
export interface AppendEntries {
  readonly type: 'rpc.appendEntries';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
  /**
   * The leader's heartbeat round this message belongs to, echoed by the reply: a reply carrying
   * round r shows the follower still took this server as its leader after round r began, which is
   * how a ReadIndex read (dissertation §6.4) confirms leadership, and how a lease is measured.
   */
  readonly round: number;
}

/**
 * The reply to AppendEntries. On success `matchIndex` is the last index the follower now holds in
 * agreement with the leader (prevLogIndex + entries.length). On rejection the hint lets the leader
 * back up a whole term at a time (§5.3, "the leader can decrement nextIndex to bypass all of the
 * conflicting entries in that term"): `conflictTerm` is the follower's term at prevLogIndex and
 * `conflictIndex` the first index it holds of that term; when the follower's log is too short,
 * `conflictTerm` is 0 and `conflictIndex` is its lastLogIndex + 1.
 */
export interface AppendEntriesReply {
  readonly type: 'rpc.appendEntries.reply';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly success: boolean;
  /** Echo of the request's prevLogIndex, so the leader can tell a late reply from a current one. */
  readonly prevLogIndex: number;
  readonly matchIndex: number;
  readonly conflictTerm: number;
  readonly conflictIndex: number;
  /** The request's round, echoed. */
  readonly round: number;
}

/**
 * InstallSnapshot (paper §7, Figure 13): a leader whose log no longer holds what a follower
 * needs sends its snapshot instead, one chunk per message, one chunk in flight per follower.
 * `data` is bytes [offset, offset + data.length) of a snapshot of `totalBytes` bytes whose
 * CRC-32C is `checksum`; `done` marks the last chunk.
 */
export interface InstallSnapshot {
  readonly type: 'rpc.installSnapshot';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly lastIncludedIndex: number;
  readonly lastIncludedTerm: number;
  /** The configuration at lastIncludedIndex: its voters, and its learners (omitted: none). */
  readonly servers: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
  readonly totalBytes: number;
  readonly checksum: number;
}

/**
 * The reply to an InstallSnapshot. `offset` is how many bytes of that snapshot the follower now
 * holds, in order: where the next chunk must start (0 when it has to start over). `installed`
 * says the follower holds the snapshot's state durably (it installed it, or its own log already
 * had it committed): its log then agrees with the leader's up to `matchIndex`.
 */
export interface InstallSnapshotReply {
  readonly type: 'rpc.installSnapshot.reply';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly lastIncludedIndex: number;
  readonly offset: number;
  readonly installed: boolean;
  readonly matchIndex: number;
}

/**
 * PreVote (dissertation §9.6): before a server raises its term it asks whether it could win, for
 * the term it would stand in (its term + 1), showing its last log position. Nothing is persisted
 * or changed by asking or answering: a server cut off from the majority keeps its term.
 */
export interface PreVote {
  readonly type: 'rpc.preVote';
  readonly from: NodeId;
  readonly to: NodeId;
  /** The term the pre-candidate would stand in: its current term + 1. */
  readonly term: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

/** The answer to a PreVote: granted for the term asked, or denied with the voter's own term. */
export interface PreVoteReply {
  readonly type: 'rpc.preVote.reply';
  readonly from: NodeId;
  readonly to: NodeId;
  /** Granted: the term asked about. Denied: the voter's current term. */
  readonly term: number;
  readonly voteGranted: boolean;
}

/** TimeoutNow (dissertation §3.10): the leader hands over; the receiver starts an election at once. */
export interface TimeoutNow {
  readonly type: 'rpc.timeoutNow';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** Every message that servers exchange. The message's `type` is the event type the chart receives. */
export type RaftMessage =
  | RequestVote
  | RequestVoteReply
  | AppendEntries
  | AppendEntriesReply
  | InstallSnapshot
  | InstallSnapshotReply
  | PreVote
  | PreVoteReply
  | TimeoutNow;

export type RaftMessageType = RaftMessage['type'];

export const raftMessageTypes: readonly RaftMessageType[] = [
  'rpc.requestVote',
  'rpc.requestVote.reply',
  'rpc.appendEntries',
  'rpc.appendEntries.reply',
  'rpc.installSnapshot',
  'rpc.installSnapshot.reply',
  'rpc.preVote',
  'rpc.preVote.reply',
  'rpc.timeoutNow',
];
