import type { Entry, NodeId } from './types.ts';

/** RequestVote (Figure 2, §5.2): a candidate asks for a vote, showing its last log position (§5.4.1). */
export interface RequestVote {
  readonly type: 'rpc.requestVote';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
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
}

/** Every message that servers exchange. The message's `type` is the event type the chart receives. */
export type RaftMessage = RequestVote | RequestVoteReply | AppendEntries | AppendEntriesReply;

export type RaftMessageType = RaftMessage['type'];

export const raftMessageTypes: readonly RaftMessageType[] = [
  'rpc.requestVote',
  'rpc.requestVote.reply',
  'rpc.appendEntries',
  'rpc.appendEntries.reply',
];
