import type { LogRecord } from './records.ts';
import type { Entry, HardState, Snapshot } from './types.ts';

/**
 * The I/O a durable log needs, as promises. The durable-log chart decides when to call each
 * (group commit, retry, fail-stop); a storage only carries the call out.
 *
 * Contract: records are durable only after `sync()` (or `rewrite()`) resolves. After any
 * rejection of `write` or `sync`, the chart never calls `sync` on that file again: it calls
 * `rewrite` with every unconfirmed record, which must open a fresh segment, write them, sync it
 * and the folder (Linux marks pages clean after a failed writeback: "fsyncgate", 2018).
 */
export interface LogStorage {
  /** Append records after everything written before. Not durable until sync(). */
  write(records: readonly LogRecord[]): Promise<void>;
  /** Make everything written so far durable. */
  sync(): Promise<void>;
  /** After a failure: a fresh segment holding `records` again, synced with its folder. */
  rewrite(records: readonly LogRecord[]): Promise<void>;
  /**
   * Makes `snapshot` durable and starts the log afresh after it, holding `hardState` and `entries`
   * (which follow the snapshot's index); then may delete what no kept snapshot needs. Called only
   * when everything written is synced. On rejection it may simply be called again.
   */
  installSnapshot(snapshot: Snapshot, hardState: HardState, entries: readonly Entry[]): Promise<void>;
  /** Release the files and the folder lock. Nothing unsynced is flushed. */
  close(): Promise<void>;
}

/** How a storage failure reaches the chart: an errno-like code (EIO, ENOSPC, …) and a message. */
export interface StorageFailure {
  readonly code: string;
  readonly message: string;
}
