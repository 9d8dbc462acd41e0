import { assign, fromCallback, not, sendParent, setup, type AnyEventObject } from 'xstate';
import type { DurablePosition, LogRecord } from '../src/protocol/records.ts';
import type { StorageFailure } from '../src/protocol/storage.ts';
import type { Entry, HardState } from '../src/protocol/types.ts';

/**
 * The durable-log actor: makes a server's log records durable, in order, with group commit, and
 * tells its parent (the raft-server chart) what is durable with `log.synced`. Pure: the I/O is
 * three actors the host provides (`writeRecords`, `syncRecords`, `rewriteRecords`, each answering
 * `storage.done` or `storage.failed`); the defaults succeed at once and keep nothing (a volatile log).
 *
 * Contract with the parent:
 * - requests `log.append`, `log.truncate`, `log.saveHardState` carry increasing `seq` numbers;
 * - `log.synced` reports the highest seq whose records are all durable, and the durable position;
 *   nothing unsynced is ever reported as synced;
 * - after a failed write or sync the failed file is never synced again: every unconfirmed record is
 *   rewritten to a fresh segment (`rewriteRecords`), after a backoff, at most retryAttemptsMax times;
 *   past that the actor is `failed` and sends `log.failed` once (fail-stop).
 */

export interface DurableLogInput {
  /** The durable position recovered at start (seq 0). */
  readonly position?: Omit<DurablePosition, 'seq'>;
  readonly retryAttemptsMax?: number;
  readonly retryBackoffMsBase?: number;
}

export type DurableLogEvent =
  | { type: 'log.append'; seq: number; entries: readonly Entry[] }
  | { type: 'log.truncate'; seq: number; fromIndex: number; prevTerm: number }
  | { type: 'log.saveHardState'; seq: number; hardState: HardState }
  | { type: 'storage.done' }
  | { type: 'storage.failed'; failure: StorageFailure };

/** What the durable-log actor tells its parent. */
export type DurableLogReport =
  | { type: 'log.synced'; position: DurablePosition }
  | { type: 'log.failed'; failure: StorageFailure };

/** The most records handed to storage in one write; the rest wait for the next batch. */
export const batchRecordsMax = 8192;

/** A record waiting or in flight, with the durable position once it (and all before it) is durable. */
interface PendingRecord {
  readonly record: LogRecord;
  readonly positionAfter: DurablePosition;
}

interface DurableLogContext {
  /** Requests received, not yet handed to storage. */
  queue: PendingRecord[];
  /** The position after every request received so far. */
  queuedPosition: DurablePosition;
  /** Records handed to storage and not yet confirmed durable: rewritten whole on a retry. */
  batch: PendingRecord[];
  /** The durable position last reported. */
  synced: DurablePosition;
  attempts: number;
  retryAttemptsMax: number;
  retryBackoffMsBase: number;
  failure: StorageFailure | null;
}

const succeedAtOnce = fromCallback<AnyEventObject, { records?: readonly LogRecord[] }>(({ sendBack }) => {
  sendBack({ type: 'storage.done' });
});

export const durableLogMachine = setup({
  types: {
    context: {} as DurableLogContext,
    events: {} as DurableLogEvent,
    input: {} as DurableLogInput,
  },
  actors: {
    writeRecords: succeedAtOnce,
    syncRecords: succeedAtOnce,
    rewriteRecords: succeedAtOnce,
  },
  actions: {
    enqueueRequest: assign(({ context, event }) => {
      const positionAfter = applyRequest(context.queuedPosition, event);
      const record = toRecord(event);
      // An empty append still moves seq: it is confirmed with the next batch, or at once when idle.
      context.queue.push({ record: record ?? emptyEntries, positionAfter });
      return { queuedPosition: positionAfter };
    }),
    takeBatch: assign(({ context }) => {
      const cut = Math.min(context.queue.length, batchRecordsMax);
      return { batch: context.queue.slice(0, cut), queue: context.queue.slice(cut) };
    }),
    confirmBatch: assign(({ context }) => ({
      synced: context.batch.length === 0 ? context.synced : context.batch[context.batch.length - 1].positionAfter,
      batch: [],
      attempts: 0,
    })),
    reportSynced: sendParent(({ context }): DurableLogReport => ({ type: 'log.synced', position: context.synced })),
    recordFailure: assign(({ event }) => ({
      failure: event.type === 'storage.failed' ? event.failure : { code: 'EIO', message: 'storage failed' },
    })),
    countAttempt: assign(({ context }) => ({ attempts: context.attempts + 1 })),
    reportFailed: sendParent(({ context }): DurableLogReport => ({
      type: 'log.failed',
      failure: {
        code: context.failure?.code ?? 'EIO',
        message:
          `the durable log gave up after ${context.retryAttemptsMax} attempts (${context.failure?.message ?? 'storage failed'}); ` +
          'this server now acknowledges nothing (fail-stop). Free the disk or fix it, then restart the server.',
      },
    })),
  },
  guards: {
    hasQueuedRecords: ({ context }) => context.queue.length > 0,
    hasAttemptsLeft: ({ context }) => context.attempts <= context.retryAttemptsMax,
  },
  delays: {
    retryBackoff: ({ context }) => context.retryBackoffMsBase * 2 ** Math.min(context.attempts - 1, 6),
  },
}).createMachine({
  id: 'durableLog',
  description: 'Persists the raft-server chart\'s log records with group commit; "persist before you speak" (§5.5) rests on its log.synced.',
  context: ({ input }) => {
    const start: DurablePosition = {
      seq: 0,
      lastIndex: input.position?.lastIndex ?? 0,
      lastTerm: input.position?.lastTerm ?? 0,
      hardState: input.position?.hardState ?? { term: 0, votedFor: null },
    };
    return {
      queue: [],
      queuedPosition: start,
      batch: [],
      batchPosition: start,
      synced: start,
      attempts: 0,
      retryAttemptsMax: input.retryAttemptsMax ?? 5,
      retryBackoffMsBase: input.retryBackoffMsBase ?? 10,
      failure: null,
    };
  },
  initial: 'idle',
  on: {
    'log.*': { actions: 'enqueueRequest' },
  },
  states: {
    idle: {
      description: 'Nothing in flight; the first request starts a write.',
      always: { guard: 'hasQueuedRecords', target: 'writing' },
    },
    writing: {
      description: 'One write of every record queued so far (group commit); requests arriving now wait for the next batch.',
      entry: 'takeBatch',
      invoke: { src: 'writeRecords', input: ({ context }) => ({ records: recordsOf(context.batch) }) },
      on: {
        'storage.done': { target: 'syncing' },
        'storage.failed': { target: 'retrying', actions: 'recordFailure' },
      },
    },
    syncing: {
      description: 'One fdatasync covers the whole batch: entries and hard state become durable together.',
      invoke: { src: 'syncRecords', input: () => ({}) },
      on: {
        'storage.done': { target: 'idle', actions: ['confirmBatch', 'reportSynced'] },
        'storage.failed': { target: 'retrying', actions: 'recordFailure' },
      },
    },
    retrying: {
      description: 'A write or sync failed. Never sync that file again (fsyncgate): back off, then rewrite every unconfirmed record to a fresh segment.',
      entry: 'countAttempt',
      initial: 'backingOff',
      states: {
        backingOff: {
          always: { guard: not('hasAttemptsLeft'), target: '#durableLog.failed' },
          after: { retryBackoff: { target: 'rewriting' } },
        },
        rewriting: {
          invoke: { src: 'rewriteRecords', input: ({ context }) => ({ records: recordsOf(context.batch) }) },
          on: {
            'storage.done': { target: '#durableLog.idle', actions: ['confirmBatch', 'reportSynced'] },
            'storage.failed': { target: '#durableLog.retrying', reenter: true, actions: 'recordFailure' },
          },
        },
      },
    },
    failed: {
      description: 'Fail-stop: the retries are spent. Nothing more is written or reported as synced; the server stops acknowledging.',
      entry: 'reportFailed',
      on: { 'log.*': {} },
    },
  },
});

function toRecord(event: DurableLogEvent): LogRecord | null {
  switch (event.type) {
    case 'log.append':
      return event.entries.length === 0 ? null : { type: 'entries', entries: event.entries };
    case 'log.truncate':
      return { type: 'truncate', fromIndex: event.fromIndex };
    case 'log.saveHardState':
      return { type: 'hardState', hardState: event.hardState };
    default:
      return null;
  }
}

/** The position after one request; requests only ever move the log's end or the hard state. */
function applyRequest(position: DurablePosition, event: DurableLogEvent): DurablePosition {
  switch (event.type) {
    case 'log.append': {
      if (event.entries.length === 0) return { ...position, seq: event.seq };
      const last = event.entries[event.entries.length - 1];
      return { ...position, seq: event.seq, lastIndex: last.index, lastTerm: last.term };
    }
    case 'log.truncate':
      if (event.fromIndex > position.lastIndex) return { ...position, seq: event.seq };
      return { ...position, seq: event.seq, lastIndex: event.fromIndex - 1, lastTerm: event.prevTerm };
    case 'log.saveHardState':
      return { ...position, seq: event.seq, hardState: event.hardState };
    default:
      return position;
  }
}

const emptyEntries: LogRecord = { type: 'entries', entries: [] };

function recordsOf(pending: readonly PendingRecord[]): LogRecord[] {
  const records: LogRecord[] = [];
  for (const item of pending) {
    if (item.record.type !== 'entries' || item.record.entries.length > 0) records.push(item.record);
  }
  return records;
}
