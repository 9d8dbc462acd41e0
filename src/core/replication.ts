import type { Entry } from '../protocol/types.ts';
import { assert } from './assert.ts';
import type { RaftLog } from './raft-log.ts';

/** What a follower did to its log to take a leader's entries. */
export interface LogChange {
  /** The index from which entries were deleted, or null when nothing was deleted. */
  truncatedFrom: number | null;
  /** The entries appended, in order (a suffix of the leader's `entries`). */
  appended: Entry[];
}

/**
 * A follower takes the entries of an AppendEntries whose prevLogIndex/prevLogTerm matched (§5.3):
 * entries it already holds are skipped; at the first conflict (same index, other term) it deletes
 * that entry and all after it; then it appends what is new. An entry that matches is never deleted
 * (rule 4), so a late or duplicated AppendEntries cannot shorten the log. Changes `log` in place.
 * A conflict at or below `commitIndex` would delete a committed entry: that is an assertion failure.
 */
export function reconcileWithLeader(log: RaftLog, prevLogIndex: number, entries: readonly Entry[], commitIndex: number): LogChange {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (entry.index !== prevLogIndex + 1 + i) assert(false, `entry ${entry.index} out of place after ${prevLogIndex}`);
    // Compacted entries are committed, so the leader's are the same ones (Leader Completeness, §5.4.3).
    if (entry.index <= log.baseIndex) continue;
    const held = log.termAt(entry.index);
    if (held === entry.term) continue;
    let truncatedFrom: number | null = null;
    if (held !== undefined) {
      assert(entry.index > commitIndex, `conflict at committed index ${entry.index} (commitIndex ${commitIndex})`);
      log.truncateFrom(entry.index);
      truncatedFrom = entry.index;
    }
    const appended = entries.slice(i);
    log.append(appended);
    return { truncatedFrom, appended };
  }
  return { truncatedFrom: null, appended: [] };
}

/**
 * Figure 2's consistency check, with compaction: the log holds prevLogIndex with prevLogTerm, or
 * prevLogIndex lies inside the compacted prefix. Compacted entries were committed and applied
 * here, and every leader holds the committed entries at the same index and term (§5.4.3), so the
 * leader's entry there is ours.
 */
export function prevLogAgrees(log: RaftLog, prevLogIndex: number, prevLogTerm: number): boolean {
  return prevLogIndex < log.baseIndex || log.matches(prevLogIndex, prevLogTerm);
}

/**
 * The hint in a refusal (§5.3): the follower's term at prevLogIndex and the first index it holds of
 * that term, or, when its log is too short, term 0 and its lastIndex + 1.
 */
export function rejectionHint(log: RaftLog, prevLogIndex: number): { conflictTerm: number; conflictIndex: number } {
  if (prevLogIndex > log.lastIndex) return { conflictTerm: 0, conflictIndex: log.lastIndex + 1 };
  // At or before the base nothing conflicts (compacted entries are committed): ask for what follows it.
  if (prevLogIndex <= log.baseIndex) return { conflictTerm: 0, conflictIndex: log.baseIndex + 1 };
  return { conflictTerm: log.termAt(prevLogIndex) ?? 0, conflictIndex: log.firstIndexOfTermAt(prevLogIndex) };
}
