import { fromCallback, type AnyEventObject, type CallbackActorLogic } from 'xstate';
import { durableLogMachine, type SnapshotWrite } from '../../machines/durable-log.machine.ts';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import type { LogRecord } from '../protocol/records.ts';
import type { LogStorage, StorageFailure } from '../protocol/storage.ts';
import { errorCodeOf } from './file-system-error.ts';

/**
 * The glue between a LogStorage (the Wal, in production) and the charts: the durable-log chart's
 * four storage actors, the durable-log chart with them provided, and the raft-server chart with
 * that durable log provided. machines/ never imports src/io, so this is where a host wires them.
 */

/** What the durable-log chart gives each storage actor: the records to write (none for a sync), or the snapshot to write. */
export interface StorageActorInput {
  readonly records?: readonly LogRecord[];
  readonly snapshot?: SnapshotWrite;
}

/** What a storage actor answers its parent, exactly once, unless it was stopped first. */
export type StorageAnswer = { readonly type: 'storage.done' } | { readonly type: 'storage.failed'; readonly failure: StorageFailure };

export type StorageActorLogic = CallbackActorLogic<AnyEventObject, StorageActorInput>;

/** The actors the durable-log chart invokes; see storageActors. */
export interface StorageActors {
  readonly writeRecords: StorageActorLogic;
  readonly syncRecords: StorageActorLogic;
  readonly rewriteRecords: StorageActorLogic;
  readonly writeSnapshot: StorageActorLogic;
}

/**
 * The four actors the durable-log chart invokes, carried out on `storage`: `writeRecords` calls
 * write(records), `syncRecords` sync(), `rewriteRecords` rewrite(records), `writeSnapshot`
 * installSnapshot(snapshot, hardState, entries). Each answers its parent once: `storage.done`
 * when the call resolves, `storage.failed { failure: { code, message } }` when it rejects with an operating error (an errno-like code: EIO, ENOSPC, …). A stopped actor (its
 * state was left, or the server stopped) sends nothing, ever. A rejection without such a code is a
 * bug (a failed assert in the storage): the actor errors, and the error travels up the actor tree
 * to the host instead of being retried as if the disk were at fault.
 *
 * The chart keeps one call in flight, so `storage` sees write, sync and rewrite strictly in turn.
 */
export function storageActors(storage: LogStorage): StorageActors {
  return {
    writeRecords: storageCall((input) => storage.write(input.records ?? [])),
    syncRecords: storageCall(() => storage.sync()),
    rewriteRecords: storageCall((input) => storage.rewrite(input.records ?? [])),
    writeSnapshot: storageCall(async (input) => {
      const write = input.snapshot;
      if (write === undefined) throw new TypeError('writeSnapshot without a snapshot');
      return storage.installSnapshot(write.snapshot, write.hardState, write.entries);
    }),
  };
}

/**
 * The durable-log chart over `storage`, ready to invoke or to hand to the raft-server chart. Retry
 * settings are input: the raft-server chart passes its own input's `durableLog` down.
 */
export function createDurableLog(storage: LogStorage): typeof durableLogMachine {
  return durableLogMachine.provide({ actors: storageActors(storage) });
}

/**
 * `machine` (the raft-server chart by default, or a variant of it) with its `durableLog` actor
 * persisting to `storage`: `raftServerMachine.provide({ actors: { durableLog: createDurableLog(storage) } })`.
 * The host opens the storage first (openWal) and passes what it recovered as the server's input.
 */
export function provideDurableLog(storage: LogStorage, machine: typeof raftServerMachine = raftServerMachine): typeof raftServerMachine {
  return machine.provide({ actors: { durableLog: createDurableLog(storage) } });
}

const storageDone: StorageAnswer = { type: 'storage.done' };

/** A callback actor that runs `call` once and answers with its outcome, unless stopped first. */
function storageCall(call: (input: StorageActorInput) => Promise<void>): StorageActorLogic {
  return fromCallback<AnyEventObject, StorageActorInput>(({ input, sendBack, receive, self }) => {
    // XState drops what a stopped callback actor sends back, too; this flag keeps the outcome (and
    // a storage bug after the stop) from reaching the actor at all, whatever XState does.
    let stopped = false;
    call(input).then(
      () => {
        if (!stopped) sendBack(storageDone);
      },
      (error: unknown) => {
        if (stopped) return;
        const failure = storageFailureOf(error);
        if (failure !== null) {
          sendBack({ type: 'storage.failed', failure });
          return;
        }
        // Rethrown inside the actor's own transition, a bug makes this actor (and, unhandled, its
        // parents up to the host) error loudly rather than being retried as a disk failure.
        receive(() => {
          throw error;
        });
        self.send({ type: 'storage.bug' });
      },
    );
    return () => {
      stopped = true;
    };
  });
}

/** The failure an operating error reports, or null when `error` is a bug (it has no errno-like code). */
export function storageFailureOf(error: unknown): StorageFailure | null {
  const code = errorCodeOf(error);
  if (code === undefined || !/^E[A-Z0-9]+$/.test(code)) return null;
  const message = error instanceof Error ? error.message : String(error);
  return { code, message };
}
