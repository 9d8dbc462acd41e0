import type { Entry, HardState } from './types.ts';

/**
 * A write-ahead log record: what the raft-server chart asks its durable log to make durable.
 * Records are applied in order; recovery replays them to rebuild the log and the hard state.
 */
export type LogRecord =
  | { readonly type: 'hardState'; readonly hardState: HardState }
  | { readonly type: 'entries'; readonly entries: readonly Entry[] }
  /** Delete every entry with index >= fromIndex (a follower's conflicting suffix, §5.3). */
  | { readonly type: 'truncate'; readonly fromIndex: number };

/** The durable position a durable log reports after each sync. */
export interface DurablePosition {
  /** The highest request sequence number whose records are all durable. */
  readonly seq: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly hardState: HardState;
  /** The index of the newest durable snapshot (0: none): the log is compacted up to it. */
  readonly snapshotIndex: number;
}
