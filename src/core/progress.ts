import { assert } from './assert.ts';
import type { RaftLog } from './raft-log.ts';
import type { RaftConfig } from './config.ts';
import type { Entry, Snapshot } from '../protocol/types.ts';

/**
 * What a leader knows of one follower (Figure 2's nextIndex and matchIndex, plus flow control in
 * the manner of etcd-io/raft): in `probe` one AppendEntries at a time until the logs agree, then in
 * `replicate` up to inflightMax pipelined AppendEntries, and in `snapshot` one InstallSnapshot
 * chunk at a time while the follower needs entries the leader has compacted (§7). Owned by the
 * leader's context and changed in place; reset when a server becomes leader.
 */
export interface Progress {
  nextIndex: number;
  matchIndex: number;
  mode: 'probe' | 'replicate' | 'snapshot';
  /** Probe mode: an AppendEntries is out and unanswered; the next heartbeat clears it to retry. */
  probeOutstanding: boolean;
  /** Replicate mode: the last index of each AppendEntries in flight, ascending. */
  inflight: number[];
  /** The follower answered an AppendEntries of this term since the leader's last quorum check (CheckQuorum). */
  recentActive: boolean;
  /** The highest heartbeat round the follower answered in this term (ReadIndex and leases, §6.4). */
  ackedRound: number;
  /** Snapshot mode only: the transfer under way. */
  transfer: SnapshotTransfer | null;
}

/** One snapshot on its way to one follower: the snapshot is kept whole even if the leader takes a newer one meanwhile. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** CRC-32C of snapshot.data, sent with every chunk so the follower can check what it assembled. */
  readonly checksum: number;
  /** The first byte the follower has not acknowledged: where the next chunk starts. */
  offset: number;
  /** The end of the chunk in flight, or -1 when none is: one chunk in flight per follower. */
  outstandingEnd: number;
}

/** The part of an InstallSnapshot that depends on the follower's transfer. */
export interface SnapshotChunk {
  readonly snapshot: Snapshot;
  readonly checksum: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

/**
 * Progress's invariants, asserted after every change: the follower's next index lies past what it
 * matches; an AppendEntries in flight ends after the match and before the next index, in order;
 * a window only in replicate mode, and a transfer only in snapshot mode. Messages are built only
 * when a check fails.
 */
export function checkProgress(progress: Progress): void {
  const { nextIndex, matchIndex, inflight, mode } = progress;
  if (!(matchIndex < nextIndex)) assert(false, `progress: matchIndex ${matchIndex} is not below nextIndex ${nextIndex}`);
  if (mode !== 'replicate' && inflight.length > 0) assert(false, `progress: ${inflight.length} AppendEntries in flight in ${mode} mode`);
  if ((mode === 'snapshot') !== (progress.transfer !== null)) assert(false, `progress: a snapshot transfer in ${mode} mode`);
  for (let i = 0; i < inflight.length; i++) {
    if (!(inflight[i] < nextIndex && (i === 0 || inflight[i] > inflight[i - 1]))) assert(false, `progress: in-flight ends ${inflight.join(',')} with nextIndex ${nextIndex}`);
  }
}

/** The part of an AppendEntries that depends on the follower. */
export interface AppendPlan {
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
}

/** A leader's starting view of a follower (§5.3: nextIndex = leader's last index + 1). */
export function initialProgress(leaderLastIndex: number): Progress {
  return { nextIndex: leaderLastIndex + 1, matchIndex: 0, mode: 'probe', probeOutstanding: false, inflight: [], recentActive: false, ackedRound: 0, transfer: null };
}

/** True when the follower needs an entry the leader's log no longer holds (prevLogIndex compacted): only the snapshot can help (§7). */
export function needsSnapshot(progress: Progress, log: RaftLog): boolean {
  return progress.mode !== 'snapshot' && progress.nextIndex - 1 < log.baseIndex;
}

/** Switches `progress` to sending `snapshot` from its first byte. */
export function startSnapshot(progress: Progress, snapshot: Snapshot, checksum: number): void {
  progress.mode = 'snapshot';
  progress.probeOutstanding = false;
  progress.inflight = [];
  progress.transfer = { snapshot, checksum, offset: 0, outstandingEnd: -1 };
}

/**
 * The next InstallSnapshot chunk, or null while one is unanswered. `heartbeat` resends the
 * unanswered chunk (RPCs are retried until answered, §5.5). Records the send.
 */
export function planSnapshotChunk(progress: Progress, chunkBytesMax: number, heartbeat: boolean): SnapshotChunk | null {
  const transfer = progress.transfer;
  if (transfer === null) assert(false, 'a snapshot chunk without a transfer');
  if (transfer.outstandingEnd >= 0 && !heartbeat) return null;
  const { snapshot, offset } = transfer;
  const end = Math.min(offset + chunkBytesMax, snapshot.data.byteLength);
  transfer.outstandingEnd = end;
  return { snapshot, checksum: transfer.checksum, offset, data: snapshot.data.subarray(offset, end), done: end === snapshot.data.byteLength };
}

/**
 * A follower answered an InstallSnapshot of `lastIncludedIndex`. Installed: the follower agrees
 * through matchIndex; back to probing after it (returns 'installed'). Otherwise it holds `offset`
 * bytes: the next chunk starts there (returns 'continue'). A reply about another snapshot, or one
 * arriving outside snapshot mode, changes nothing (returns 'ignored').
 */
export function onSnapshotReply(
  progress: Progress,
  lastIncludedIndex: number,
  installed: boolean,
  offset: number,
  matchIndex: number,
): 'installed' | 'continue' | 'ignored' {
  const transfer = progress.transfer;
  if (progress.mode !== 'snapshot' || transfer === null || transfer.snapshot.index !== lastIncludedIndex) return 'ignored';
  if (installed) {
    progress.matchIndex = Math.max(progress.matchIndex, matchIndex);
    progress.nextIndex = progress.matchIndex + 1;
    progress.mode = 'probe';
    progress.probeOutstanding = false;
    progress.transfer = null;
    return 'installed';
  }
  if (offset < 0 || offset > transfer.snapshot.data.byteLength) return 'ignored';
  // A second answer to the chunk already sent from this offset (a duplicate, or a late reply):
  // acting on it would send another chunk beside the one in flight, and each duplicate would keep
  // one more chunk-and-reply pair circulating for the rest of the transfer. The heartbeat resends.
  if (transfer.outstandingEnd >= 0 && offset === transfer.offset) return 'ignored';
  transfer.offset = offset;
  transfer.outstandingEnd = -1;
  return 'continue';
}

/**
 * The AppendEntries to send now, or null when flow control says wait. `heartbeat` forces a message
 * even with nothing new (it also retries an unanswered probe, §5.5). Records the send in `progress`.
 */
export function planAppend(progress: Progress, log: RaftLog, config: RaftConfig, heartbeat: boolean): AppendPlan | null {
  assert(progress.mode !== 'snapshot', 'planAppend in snapshot mode: plan a snapshot chunk');
  if (progress.mode === 'probe') {
    if (progress.probeOutstanding && !heartbeat) return null;
    const plan = planFrom(progress.nextIndex, log, config.appendEntriesMax, config.appendBytesMax);
    progress.probeOutstanding = true;
    return plan;
  }
  const hasNew = progress.nextIndex <= log.lastIndex;
  const windowFull = progress.inflight.length >= config.inflightMax;
  if (!heartbeat && (!hasNew || windowFull)) return null;
  // A heartbeat with the window full or nothing new carries no entries.
  const plan = planFrom(progress.nextIndex, log, windowFull || !hasNew ? 0 : config.appendEntriesMax, config.appendBytesMax);
  if (plan.entries.length > 0) {
    const last = plan.entries[plan.entries.length - 1].index;
    progress.inflight.push(last);
    progress.nextIndex = last + 1;
  }
  checkProgress(progress);
  return plan;
}

function planFrom(nextIndex: number, log: RaftLog, entriesMax: number, bytesMax: number): AppendPlan {
  const prevLogIndex = nextIndex - 1;
  const prevLogTerm = log.termAt(prevLogIndex) ?? 0;
  const entries = entriesMax === 0 ? [] : log.sliceBounded(nextIndex, entriesMax, bytesMax);
  return { prevLogIndex, prevLogTerm, entries };
}

/** A follower confirmed agreement up to `matchIndex`: advance, free the window, pipeline from here. */
export function onAppendSuccess(progress: Progress, matchIndex: number): void {
  if (matchIndex > progress.matchIndex) progress.matchIndex = matchIndex;
  // A late answer to an AppendEntries sent before the snapshot began: the transfer goes on.
  if (progress.mode === 'snapshot') {
    if (progress.nextIndex <= progress.matchIndex) progress.nextIndex = progress.matchIndex + 1;
    return;
  }
  if (progress.mode === 'probe') {
    progress.mode = 'replicate';
    progress.probeOutstanding = false;
    progress.inflight = [];
    progress.nextIndex = progress.matchIndex + 1;
    checkProgress(progress);
    return;
  }
  if (progress.nextIndex <= progress.matchIndex) progress.nextIndex = progress.matchIndex + 1;
  let freed = 0;
  while (freed < progress.inflight.length && progress.inflight[freed] <= progress.matchIndex) freed++;
  if (freed > 0) progress.inflight.splice(0, freed);
  checkProgress(progress);
}

/**
 * A follower refused AppendEntries at `rejectedPrevIndex`. Late or duplicated refusals change
 * nothing and return false. Otherwise back nextIndex up by the hint, a term at a time (§5.3),
 * never below matchIndex + 1 nor above the refused index, fall back to probing, and return true.
 */
export function onAppendRejected(
  progress: Progress,
  log: RaftLog,
  rejectedPrevIndex: number,
  conflictTerm: number,
  conflictIndex: number,
): boolean {
  if (rejectedPrevIndex <= progress.matchIndex || progress.mode === 'snapshot') return false;
  if (progress.mode === 'probe' && rejectedPrevIndex !== progress.nextIndex - 1) return false;
  let next = conflictIndex;
  if (conflictTerm > 0) {
    const lastOfTerm = log.lastIndexOfTerm(conflictTerm, rejectedPrevIndex);
    if (lastOfTerm > 0) next = lastOfTerm + 1;
  }
  next = Math.min(Math.max(next, progress.matchIndex + 1), rejectedPrevIndex);
  progress.nextIndex = next;
  progress.mode = 'probe';
  progress.probeOutstanding = false;
  progress.inflight = [];
  checkProgress(progress);
  return true;
}
