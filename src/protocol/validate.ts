import type { RaftMessage } from './messages.ts';
import type { Entry, EntryKind, NodeId } from './types.ts';

/**
 * Validation of untrusted input at a thread boundary. A worker checks every message that reaches
 * it before the chart sees it; a malformed one (wrong shape, negative or non-integer index, absurd
 * size) is dropped and counted, never thrown: one bad message must not stop a server.
 */

/** The most entries one AppendEntries may carry across a boundary; the chart sends at most appendEntriesMax (4096). */
export const entriesPerMessageMax = 65_536;
/** The most bytes one command may hold: the API refuses bigger ones with CommandTooLarge. */
export const commandBytesMax = 1 << 20;
/** The largest snapshot a server takes from a leader; a bigger one is refused as damage. */
export const snapshotBytesMax = 1 << 30;
/** The most snapshot bytes one InstallSnapshot may carry across a boundary; the chart sends at most snapshotChunkBytesMax (1 MiB). */
export const snapshotChunkBytesWireMax = 64 << 20;
/** The most servers a snapshot's configuration may name. */
const serversMax = 1024;
/** The most messages one batch may hold; a bigger batch is dropped whole. */
export const messagesPerBatchMax = 100_000;
/** Node ids are short names ('n1' … 'n9'); anything long is garbage. */
const nodeIdLengthMax = 64;

const entryKinds: readonly EntryKind[] = ['command', 'noop', 'config'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-negative safe integer: terms and indexes. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function isNodeId(value: unknown): value is NodeId {
  return typeof value === 'string' && value.length > 0 && value.length <= nodeIdLengthMax;
}

/** True when `value` is a command a server may append: a Uint8Array of at most commandBytesMax bytes. */
function isCommand(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength <= commandBytesMax;
}

function isEntry(value: unknown): value is Entry {
  if (!isRecord(value)) return false;
  return (
    isCount(value.index) &&
    value.index >= 1 &&
    isCount(value.term) &&
    value.term >= 1 &&
    entryKinds.includes(value.kind as EntryKind) &&
    isCommand(value.command)
  );
}

/** True when the entries are a well-formed contiguous run starting right after prevLogIndex. */
function areEntries(value: unknown, prevLogIndex: number): value is Entry[] {
  if (!Array.isArray(value) || value.length > entriesPerMessageMax) return false;
  for (let i = 0; i < value.length; i++) {
    const entry: unknown = value[i];
    if (!isEntry(entry) || entry.index !== prevLogIndex + 1 + i) return false;
  }
  return true;
}

/**
 * Why `value` is not a RaftMessage addressed to `self`, or null when it is one. The checks are
 * the shape of messages.ts plus the sanity a receiver relies on: integer, non-negative terms and
 * indexes; entries contiguous after prevLogIndex; bounded sizes.
 */
export function raftMessageProblem(value: unknown, self: NodeId): string | null {
  if (!isRecord(value)) return 'not an object';
  if (!isNodeId(value.from) || !isNodeId(value.to)) return 'bad from/to';
  if (value.to !== self) return `addressed to ${String(value.to)}, not ${self}`;
  if (value.from === self) return 'from itself';
  if (!isCount(value.term)) return 'bad term';
  switch (value.type) {
    case 'rpc.requestVote':
      if (typeof value.transfer !== 'boolean') return 'bad transfer';
      return isCount(value.lastLogIndex) && isCount(value.lastLogTerm) ? null : 'bad last log position';
    case 'rpc.requestVote.reply':
      return typeof value.voteGranted === 'boolean' ? null : 'bad voteGranted';
    case 'rpc.appendEntries':
      if (!isCount(value.prevLogIndex) || !isCount(value.prevLogTerm) || !isCount(value.leaderCommit) || !isCount(value.round)) return 'bad index';
      return areEntries(value.entries, value.prevLogIndex) ? null : 'bad entries';
    case 'rpc.appendEntries.reply':
      if (typeof value.success !== 'boolean') return 'bad success';
      return isCount(value.prevLogIndex) && isCount(value.matchIndex) && isCount(value.conflictTerm) && isCount(value.conflictIndex) && isCount(value.round)
        ? null
        : 'bad index';
    case 'rpc.preVote':
      return isCount(value.lastLogIndex) && isCount(value.lastLogTerm) ? null : 'bad last log position';
    case 'rpc.preVote.reply':
      return typeof value.voteGranted === 'boolean' ? null : 'bad voteGranted';
    case 'rpc.timeoutNow':
      return null;
    case 'rpc.installSnapshot':
      return installSnapshotProblem(value);
    case 'rpc.installSnapshot.reply':
      if (typeof value.installed !== 'boolean') return 'bad installed';
      return isCount(value.lastIncludedIndex) && isCount(value.offset) && isCount(value.matchIndex) ? null : 'bad index';
    default:
      return 'unknown type';
  }
}

/** Why `value` (an object of type rpc.installSnapshot) is not a well-formed InstallSnapshot, or null. */
function installSnapshotProblem(value: Record<string, unknown>): string | null {
  if (!isCount(value.lastIncludedIndex) || value.lastIncludedIndex < 1 || !isCount(value.lastIncludedTerm) || value.lastIncludedTerm < 1) return 'bad snapshot position';
  if (!Array.isArray(value.servers) || value.servers.length === 0 || value.servers.length > serversMax || !value.servers.every(isNodeId)) return 'bad servers';
  if (value.learners !== undefined && (!Array.isArray(value.learners) || value.learners.length > serversMax || !value.learners.every(isNodeId))) return 'bad learners';
  if (!isCount(value.totalBytes) || value.totalBytes > snapshotBytesMax) return 'bad totalBytes';
  if (!(value.data instanceof Uint8Array) || value.data.byteLength > snapshotChunkBytesWireMax) return 'bad data';
  if (!isCount(value.offset) || value.offset + value.data.byteLength > value.totalBytes) return 'bad offset';
  if (typeof value.done !== 'boolean' || (value.done && value.offset + value.data.byteLength !== value.totalBytes)) return 'bad done';
  return isCount(value.checksum) && value.checksum <= 0xffffffff ? null : 'bad checksum';
}

/** True when `value` is a well-formed RaftMessage addressed to `self`; see raftMessageProblem. */
export function isRaftMessageFor(value: unknown, self: NodeId): value is RaftMessage {
  return raftMessageProblem(value, self) === null;
}

/** A batch of messages (an array of at most messagesPerBatchMax), or null. */
export function asBatch(value: unknown): unknown[] | null {
  return Array.isArray(value) && value.length <= messagesPerBatchMax ? value : null;
}
