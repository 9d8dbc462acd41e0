import { fromCallback, type AnyEventObject } from 'xstate';
import { assert } from '../core/assert.ts';
import type { SnapshotWrite } from '../../machines/durable-log.machine.ts';
import type { LogRecord } from '../protocol/records.ts';
import type { Entry, HardState, RecoveredState, Snapshot } from '../protocol/types.ts';
import type { VirtualClock } from './virtual-clock.ts';

/** Told when a sync makes a truncation durable, so a checker can see committed entries vanish. */
export type DurableTruncationListener = (fromIndex: number, removed: readonly Entry[]) => void;

/**
 * One server's virtual disk at the level of log records: what is synced survives `crash()`,
 * what is only written does not. The simulator keeps a disk per server across restarts. A
 * snapshot is installed whole or not at all (the WAL's write-then-rename), after which the disk
 * holds the snapshot and the entries that follow it.
 */
export class VirtualDisk {
  private hardState: HardState = { term: 0, votedFor: null };
  private snapshotHeld: Snapshot | null = null;
  /** The durable entries after the snapshot (after index 0 without one), by position. */
  private entries: Entry[] = [];
  private written: LogRecord[] = [];
  onDurableTruncation: DurableTruncationListener | null = null;

  /** Records written and not yet synced. */
  get unsyncedCount(): number {
    return this.written.length;
  }

  write(records: readonly LogRecord[]): void {
    for (const record of records) this.written.push(record);
  }

  /** Makes the first `count` written records durable, in order. */
  sync(count: number = this.written.length): void {
    assert(count <= this.written.length, `sync of ${count} records, ${this.written.length} written`);
    const now = this.written.slice(0, count);
    this.written = this.written.slice(count);
    for (const record of now) this.applyDurably(record);
  }

  /** A crash: everything not synced is gone. */
  crash(): void {
    this.written = [];
  }

  /** What a restarting server recovers: the synced hard state, snapshot and log. */
  recover(): RecoveredState {
    return { hardState: this.hardState, snapshot: this.snapshotHeld, entries: [...this.entries] };
  }

  /** The synced term at `index` in the log after the snapshot (the snapshot's term at its index), undefined when not held there. */
  durableTermAt(index: number): number | undefined {
    const base = this.snapshotIndex;
    if (index === base) return this.snapshotHeld?.term ?? 0;
    const entry = this.entries[index - base - 1];
    return index > base ? entry?.term : undefined;
  }

  /** The index of the durable snapshot, 0 when none: entries up to it are held by it, not by the log. */
  get snapshotIndex(): number {
    return this.snapshotHeld?.index ?? 0;
  }

  /** The durable snapshot, or null. */
  get snapshot(): Snapshot | null {
    return this.snapshotHeld;
  }

  get durableLastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  /**
   * Installs a snapshot durably, as one step: the disk then holds `snapshot`, `hardState` and the
   * entries after it. Entries after the snapshot that the new log does not keep are reported as
   * durably truncated (a follower discarding a log that disagrees with its leader's snapshot).
   */
  installSnapshot(write: SnapshotWrite): void {
    assert(this.written.length === 0, 'a snapshot installed over unsynced writes');
    const { snapshot, entries } = write;
    const removed: Entry[] = [];
    for (const entry of this.entries) {
      if (entry.index <= snapshot.index) continue;
      const kept = entries[entry.index - snapshot.index - 1];
      if (kept === undefined || kept.term !== entry.term) removed.push(entry);
    }
    this.snapshotHeld = snapshot;
    this.hardState = write.hardState;
    this.entries = [...entries];
    if (removed.length > 0) this.onDurableTruncation?.(removed[0].index, removed);
  }

  private applyDurably(record: LogRecord): void {
    if (record.type === 'hardState') {
      this.hardState = record.hardState;
    } else if (record.type === 'truncate') {
      assert(record.fromIndex > this.snapshotIndex, `a durable truncation from ${record.fromIndex} into the snapshot of ${this.snapshotIndex}`);
      if (record.fromIndex <= this.durableLastIndex) {
        const removed = this.entries.splice(record.fromIndex - this.snapshotIndex - 1);
        this.onDurableTruncation?.(record.fromIndex, removed);
      }
    } else {
      for (const entry of record.entries) {
        assert(entry.index === this.durableLastIndex + 1, `durable append of ${entry.index} after ${this.durableLastIndex}`);
        this.entries.push(entry);
      }
    }
  }
}

/** Schedules `run` after `delayMs` on the host's clock and returns a way to cancel it. */
export type Schedule = (delayMs: number, run: () => void) => () => void;

/** A Schedule on `clock` (the simulator's, or one server's in the paper harness). */
export function scheduleOn(clock: VirtualClock): Schedule {
  return (delayMs, run) => {
    const handle = clock.setTimeout(run, delayMs);
    return () => clock.clearTimeout(handle);
  };
}

/**
 * The durable-log chart's four storage actors over a virtual disk: a write lands at once, a sync
 * (a rewrite, a snapshot) completes after `syncLatencyMs()` of the host's clock. Stopping an actor (a crash)
 * cancels what it had pending, so a crashed incarnation can never sync a later one's records.
 */
export function virtualDiskActors(disk: VirtualDisk, schedule: Schedule, syncLatencyMs: () => number) {
  const done = { type: 'storage.done' } as const;
  return {
    writeRecords: fromCallback<AnyEventObject, { records?: readonly LogRecord[] }>(({ sendBack, input }) => {
      disk.write(input.records ?? []);
      return schedule(0, () => sendBack(done));
    }),
    syncRecords: fromCallback<AnyEventObject, { records?: readonly LogRecord[] }>(({ sendBack }) => {
      const count = disk.unsyncedCount;
      return schedule(syncLatencyMs(), () => {
        disk.sync(count);
        sendBack(done);
      });
    }),
    rewriteRecords: fromCallback<AnyEventObject, { records?: readonly LogRecord[] }>(({ sendBack, input }) => {
      disk.crash();
      disk.write(input.records ?? []);
      const count = disk.unsyncedCount;
      return schedule(syncLatencyMs(), () => {
        disk.sync(count);
        sendBack(done);
      });
    }),
    writeSnapshot: fromCallback<AnyEventObject, { snapshot?: SnapshotWrite }>(({ sendBack, input }) => {
      const write = input.snapshot;
      assert(write !== undefined, 'writeSnapshot without a snapshot');
      // A crash before the latency passes cancels this: the snapshot never landed (write, then rename).
      return schedule(syncLatencyMs(), () => {
        disk.installSnapshot(write);
        sendBack(done);
      });
    }),
  };
}
