import type { RaftLog } from './raft-log.ts';
import type { RaftConfig } from './config.ts';
import type { Entry } from '../protocol/types.ts';

/**
 * What a leader knows of one follower (Figure 2's nextIndex and matchIndex, plus flow control in
 * the manner of etcd-io/raft): in `probe` one AppendEntries at a time until the logs agree, then in
 * `replicate` up to inflightMax pipelined AppendEntries. Owned by the leader's context and changed
 * in place; reset when a server becomes leader.
 */
export interface Progress {
  nextIndex: number;
  matchIndex: number;
  mode: 'probe' | 'replicate';
  /** Probe mode: an AppendEntries is out and unanswered; the next heartbeat clears it to retry. */
  probeOutstanding: boolean;
  /** Replicate mode: the last index of each AppendEntries in flight, ascending. */
  inflight: number[];
  /** The follower answered an AppendEntries of this term since the leader's last quorum check (CheckQuorum). */
  recentActive: boolean;
}

/** The part of an AppendEntries that depends on the follower. */
export interface AppendPlan {
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
}

/** A leader's starting view of a follower (§5.3: nextIndex = leader's last index + 1). */
export function initialProgress(leaderLastIndex: number): Progress {
  return { nextIndex: leaderLastIndex + 1, matchIndex: 0, mode: 'probe', probeOutstanding: false, inflight: [], recentActive: false };
}

/**
 * The AppendEntries to send now, or null when flow control says wait. `heartbeat` forces a message
 * even with nothing new (it also retries an unanswered probe, §5.5). Records the send in `progress`.
 */
export function planAppend(progress: Progress, log: RaftLog, config: RaftConfig, heartbeat: boolean): AppendPlan | null {
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
  if (progress.mode === 'probe') {
    progress.mode = 'replicate';
    progress.probeOutstanding = false;
    progress.inflight = [];
    progress.nextIndex = progress.matchIndex + 1;
    return;
  }
  if (progress.nextIndex <= progress.matchIndex) progress.nextIndex = progress.matchIndex + 1;
  let freed = 0;
  while (freed < progress.inflight.length && progress.inflight[freed] <= progress.matchIndex) freed++;
  if (freed > 0) progress.inflight.splice(0, freed);
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
  if (rejectedPrevIndex <= progress.matchIndex) return false;
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
  return true;
}
