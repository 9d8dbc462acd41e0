import type { SnapshotWrite } from '../../machines/durable-log.machine.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import type { RecoveredState } from '../../src/protocol/types.ts';
import type { StorageActors } from '../../src/io/storage-actors.ts';
import { VirtualDisk, virtualDiskActors, type Schedule } from '../../src/sim/virtual-disk.ts';

/**
 * One server's storage in the paper harness, synchronous whatever lies beneath, so the same test
 * bodies run over each kind:
 * - 'virtual': the simulator's virtual disk (src/sim/virtual-disk.ts);
 * - 'wal-memory': the real write-ahead log (src/io/wal.ts) on a MemoryFileSystem, which loses what
 *   was not synced at a crash;
 * - 'wal-real': the real write-ahead log on the real disk, in a temp folder.
 * The environment variable RAFTCHART_PAPER_STORAGE picks the kind (vitest.config.ts runs test/paper
 * once per kind); default 'virtual'.
 */
export interface PaperDisk {
  /** Makes `recovered` durable before the server starts from it. */
  seed(recovered: RecoveredState): void;
  /** Opens the storage for a new incarnation of the server and returns what it recovers. */
  open(): RecoveredState;
  /** The durable-log chart's storage actors for this incarnation; every completion goes through `schedule`. */
  actors(schedule: Schedule): StorageActors;
  /** The server crashed: what was not synced is lost. open() starts the next incarnation. */
  crash(): void;
  /** What a restart would recover now: the synced hard state and log. */
  recover(): RecoveredState;
}

/** The disks of one harness cluster. */
export interface PaperDisks {
  disk(id: string): PaperDisk;
  /** Releases what the disks hold (files, folders) once the cluster has stopped; idempotent. */
  dispose(): void;
}

export const paperStorageKinds = ['virtual', 'wal-memory', 'wal-real'] as const;
export type PaperStorageKind = (typeof paperStorageKinds)[number];

/** The storage kind chosen by RAFTCHART_PAPER_STORAGE. */
export function paperStorageKindOfEnv(): PaperStorageKind {
  const kind = process.env.RAFTCHART_PAPER_STORAGE ?? 'virtual';
  const known = paperStorageKinds.find((k) => k === kind);
  if (known === undefined) throw new Error(`RAFTCHART_PAPER_STORAGE=${kind}: expected one of ${paperStorageKinds.join(', ')}`);
  return known;
}

/** The records that make `recovered` durable: its hard state, then its entries. */
export function recordsOf(recovered: RecoveredState): LogRecord[] {
  const records: LogRecord[] = [{ type: 'hardState', hardState: recovered.hardState }];
  if (recovered.entries.length > 0) records.push({ type: 'entries', entries: recovered.entries });
  return records;
}

/** The snapshot install that makes `recovered` durable when it starts from a snapshot, else null. */
export function snapshotWriteOf(recovered: RecoveredState): SnapshotWrite | null {
  const snapshot = recovered.snapshot ?? null;
  return snapshot === null ? null : { snapshot, hardState: recovered.hardState, entries: recovered.entries };
}

/** The simulator's virtual disk: a write lands at once, a sync completes when `schedule` runs it. */
export class VirtualPaperDisk implements PaperDisk {
  readonly #disk = new VirtualDisk();

  seed(recovered: RecoveredState): void {
    const snapshot = snapshotWriteOf(recovered);
    if (snapshot !== null) {
      this.#disk.installSnapshot(snapshot);
      return;
    }
    this.#disk.write(recordsOf(recovered));
    this.#disk.sync();
  }

  open(): RecoveredState {
    return this.#disk.recover();
  }

  actors(schedule: Schedule): StorageActors {
    return virtualDiskActors(this.#disk, schedule, () => 0);
  }

  crash(): void {
    this.#disk.crash();
  }

  recover(): RecoveredState {
    return this.#disk.recover();
  }
}

export const virtualPaperDisks: PaperDisks = { disk: () => new VirtualPaperDisk(), dispose: () => undefined };
