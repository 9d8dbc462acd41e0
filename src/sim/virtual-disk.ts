import { fromCallback, type AnyEventObject } from 'xstate';
import { assert } from '../core/assert.ts';
import type { LogRecord } from '../protocol/records.ts';
import type { Entry, HardState, RecoveredState } from '../protocol/types.ts';

/** Told when a sync makes a truncation durable, so a checker can see committed entries vanish. */
export type DurableTruncationListener = (fromIndex: number, removed: readonly Entry[]) => void;

/**
 * One server's virtual disk at the level of log records: what is synced survives `crash()`,
 * what is only written does not. The simulator keeps a disk per server across restarts.
 */
export class VirtualDisk {
  private hardState: HardState = { term: 0, votedFor: null };
  private readonly entries: Entry[] = [];
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

  /** What a restarting server recovers: the synced hard state and log. */
  recover(): RecoveredState {
    return { hardState: this.hardState, entries: [...this.entries] };
  }

  /** The synced term at `index`, undefined when the synced log is shorter. */
  durableTermAt(index: number): number | undefined {
    return index >= 1 && index <= this.entries.length ? this.entries[index - 1].term : undefined;
  }

  get durableLastIndex(): number {
    return this.entries.length;
  }

  private applyDurably(record: LogRecord): void {
    if (record.type === 'hardState') {
      this.hardState = record.hardState;
    } else if (record.type === 'truncate') {
      if (record.fromIndex <= this.entries.length) {
        const removed = this.entries.splice(record.fromIndex - 1);
        this.onDurableTruncation?.(record.fromIndex, removed);
      }
    } else {
      for (const entry of record.entries) {
        assert(entry.index === this.entries.length + 1, `durable append of ${entry.index} after ${this.entries.length}`);
        this.entries.push(entry);
      }
    }
  }
}

/** Schedules `run` after `delayMs` on the host's clock and returns a way to cancel it. */
export type Schedule = (delayMs: number, run: () => void) => () => void;

/**
 * The durable-log chart's three storage actors over a virtual disk: a write lands at once, a sync
 * (and a rewrite) completes after `syncLatencyMs()` of the host's clock. Stopping an actor (a crash)
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
  };
}
