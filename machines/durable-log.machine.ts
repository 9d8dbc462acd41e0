import { assign, fromCallback, not, sendParent, setup, type AnyEventObject } from 'xstate';
import { assert } from '../src/core/assert.ts';
import type { DurablePosition, LogRecord } from '../src/protocol/records.ts';
import type { StorageFailure } from '../src/protocol/storage.ts';
import type { Entry, HardState, Snapshot } from '../src/protocol/types.ts';

/**
 * The durable-log actor: makes a server's log records durable, in order, with group commit, and
 * tells its parent (the raft-server chart) what is durable with `log.synced`. Pure: the I/O is
 * three actors the host provides (`writeRecords`, `syncRecords`, `rewriteRecords`, each answering
 * `storage.done` or `storage.failed`); the defaults succeed at once and keep nothing (a volatile log).
 *
 * Contract with the parent:
 * - requests `log.append`, `log.truncate`, `log.saveHardState` carry increasing `seq` numbers; a
 *   host may also send many at once as one `log.requests` (one event instead of one per request);
 * - group commit: one batch is in flight at a time, as one write then one sync; every request that
 *   arrives meanwhile waits and goes out whole in the next batch (up to batchRecordsMax), so
 *   entries and a hard state sent together become durable together;
 * - `log.synced` follows each confirmed batch and carries the position after its last request:
 *   nothing unsynced is ever reported as synced, and `seq` only grows;
 * - after a failed write or sync the failed file is never synced again: the unconfirmed batch is
 *   rewritten to a fresh segment (`rewriteRecords`) after a backoff, at most retryAttemptsMax times;
 *   past that the actor is `failed` and sends `log.failed` once (fail-stop). ENOSPC is no different.
 * - `log.snapshot` (paper §7) is never batched: once everything before it is durable, the fourth
 *   actor, `writeSnapshot`, makes the snapshot durable and starts the log afresh after it with the
 *   entries it names (the log's suffix as the parent holds it then) and the synced hard state;
 *   storage may then delete what no kept snapshot needs. `log.synced` reports it like any batch
 *   (its position's snapshotIndex), and a failure is retried the same way, from the top.
 */

export interface DurableLogInput extends DurableLogOptions {
  /** The durable position recovered at start (seq 0). */
  readonly position?: Omit<DurablePosition, 'seq' | 'snapshotIndex'> & { readonly snapshotIndex?: number };
}

/** The durable log's retry settings, which a host passes down through the raft-server chart's input. */
export interface DurableLogOptions {
  /** Rewrites tried after a failed write or sync before giving up; 0 gives up at the first failure. Default 5. */
  readonly retryAttemptsMax?: number;
  /** The wait before the first rewrite; it doubles for each further one (up to 64×). Default 10 ms. */
  readonly retryBackoffMsBase?: number;
}

/** A request from the parent; `seq` numbers increase from 1. */
export type DurableLogRequest =
  | { type: 'log.append'; seq: number; entries: readonly Entry[] }
  | { type: 'log.truncate'; seq: number; fromIndex: number; prevTerm: number }
  | { type: 'log.saveHardState'; seq: number; hardState: HardState }
  /** Make `snapshot` durable and let the log continue after it with `entries` (the suffix kept, maybe none). */
  | { type: 'log.snapshot'; seq: number; snapshot: Snapshot; entries: readonly Entry[] };

/** What the writeSnapshot actor gets: the snapshot, the suffix that follows it, and the hard state to carry over. */
export interface SnapshotWrite {
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

/** Requests in seq order as one event: what a host gathered in one turn of its event loop. */
export interface DurableLogRequests {
  readonly type: 'log.requests';
  readonly requests: readonly DurableLogRequest[];
}

export type DurableLogEvent =
  | DurableLogRequest
  | DurableLogRequests
  | { type: 'storage.done' }
  | { type: 'storage.failed'; failure: StorageFailure };

/** What the durable-log actor tells its parent. */
export type DurableLogReport =
  | { type: 'log.synced'; position: DurablePosition }
  | { type: 'log.failed'; failure: StorageFailure };

/** The most requests handed to storage in one batch; the rest wait for the next batch. */
export const batchRecordsMax = 8192;
/**
 * Appends merge into one entries record only while its commands stay within this many bytes, far
 * below any storage's frame limit (the WAL's is 64 MiB): merging never makes a record too large
 * that the requests alone would not. A larger single append stays one record of its own.
 */
export const mergedRecordCommandBytesMax = 1024 * 1024;
/**
 * The most requests that may wait for storage at once. The raft-server chart sends one per
 * proposal batch or RPC, so this many means a disk that has not finished a batch for a very long
 * time under load: past it the durable log asserts (the server stops loudly) rather than grow
 * without end.
 */
export const queuedRequestsMax = 1_000_000;
/** The backoff stops doubling after this many retries. */
export const retryBackoffDoublingsMax = 6;

/** The durable log's context; exported because the declaration files (.d.ts) of the charts that spawn this one name it. */
export interface DurableLogContext {
  /**
   * Requests received, not yet handed to storage. Changed in place by enqueueRequest (O(1) per
   * request, no copy of the context), replaced whole by takeBatch.
   */
  queue: DurableLogRequest[];
  /** The seq of the last request received: requests must come in increasing seq order. */
  receivedSeq: number;
  /** Records handed to storage and not yet confirmed durable: rewritten whole on a retry. */
  batch: readonly LogRecord[];
  /** The snapshot being written (in `snapshotting`), or null: written again whole on a retry. */
  snapshotWrite: SnapshotWrite | null;
  /** The durable position once the batch is confirmed: that of its last request. */
  batchPosition: DurablePosition;
  /** The durable position last reported. */
  synced: DurablePosition;
  /** Failed storage calls since the last confirmed batch. */
  attempts: number;
  retryAttemptsMax: number;
  retryBackoffMsBase: number;
  failure: StorageFailure | null;
}

const succeedAtOnce = fromCallback<AnyEventObject, { records?: readonly LogRecord[]; snapshot?: SnapshotWrite }>(({ sendBack }) => {
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
    writeSnapshot: succeedAtOnce,
  },
  actions: {
    // In place, like the raft-server chart's outbox: a busy leader sends one request per proposal
    // batch, and copying the context for each would cost more than the rest of the request.
    enqueueRequest: ({ context, event }) => enqueue(context, event as DurableLogRequest),
    enqueueRequests: ({ context, event }) => {
      for (const request of (event as DurableLogRequests).requests) enqueue(context, request);
    },
    takeBatch: assign(({ context }) => {
      const queue = context.queue;
      // A batch stops before a snapshot request: that one is written alone, after the batch is durable.
      const end = batchEnd(queue);
      const requests = end === queue.length ? queue : queue.slice(0, end);
      return {
        batch: recordsOf(requests),
        batchPosition: positionAfter(context.synced, requests),
        queue: requests === queue ? [] : queue.slice(end),
      };
    }),
    takeSnapshot: assign(({ context }) => {
      const [request, ...rest] = context.queue;
      if (request?.type !== 'log.snapshot') assert(false, 'takeSnapshot without a snapshot request first in the queue');
      return {
        snapshotWrite: { snapshot: request.snapshot, entries: request.entries, hardState: context.synced.hardState },
        batchPosition: positionAfter(context.synced, [request]),
        queue: rest,
      };
    }),
    confirmBatch: assign(({ context }) => ({ synced: context.batchPosition, batch: [], snapshotWrite: null, attempts: 0 })),
    reportSynced: sendParent(({ context }): DurableLogReport => ({ type: 'log.synced', position: context.synced })),
    recordFailure: assign(({ event }) => ({ failure: (event as Extract<DurableLogEvent, { type: 'storage.failed' }>).failure })),
    countAttempt: assign(({ context }) => ({ attempts: context.attempts + 1 })),
    reportFailed: sendParent(({ context }): DurableLogReport => ({
      type: 'log.failed',
      failure: {
        code: context.failure?.code ?? 'EIO',
        message:
          `the durable log failed ${context.attempts} times in a row, ${context.retryAttemptsMax} rewrites included ` +
          `(last: ${context.failure?.message ?? 'storage failed'}); this server now acknowledges nothing (fail-stop). ` +
          'Free the disk or fix it, then restart the server.',
      },
    })),
  },
  guards: {
    hasQueuedRecords: ({ context }) => context.queue.length > 0,
    isSnapshotNext: ({ context }) => context.queue[0]?.type === 'log.snapshot',
    hasAttemptsLeft: ({ context }) => context.attempts <= context.retryAttemptsMax,
  },
  delays: {
    retryBackoff: ({ context }) => context.retryBackoffMsBase * 2 ** Math.min(context.attempts - 1, retryBackoffDoublingsMax),
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
      snapshotIndex: input.position?.snapshotIndex ?? 0,
    };
    const retryAttemptsMax = input.retryAttemptsMax ?? 5;
    const retryBackoffMsBase = input.retryBackoffMsBase ?? 10;
    assert(Number.isInteger(retryAttemptsMax) && retryAttemptsMax >= 0, `retryAttemptsMax ${retryAttemptsMax} must be an integer >= 0`);
    assert(Number.isFinite(retryBackoffMsBase) && retryBackoffMsBase >= 0, `retryBackoffMsBase ${retryBackoffMsBase} must be >= 0`);
    return {
      queue: [],
      receivedSeq: 0,
      batch: [],
      snapshotWrite: null,
      batchPosition: start,
      synced: start,
      attempts: 0,
      retryAttemptsMax,
      retryBackoffMsBase,
      failure: null,
    };
  },
  initial: 'idle',
  on: {
    'log.append': { actions: 'enqueueRequest' },
    'log.truncate': { actions: 'enqueueRequest' },
    'log.saveHardState': { actions: 'enqueueRequest' },
    'log.snapshot': { actions: 'enqueueRequest' },
    'log.requests': { actions: 'enqueueRequests' },
  },
  states: {
    idle: {
      description: 'Nothing in flight; the first request starts a batch at once.',
      always: [
        { guard: 'isSnapshotNext', target: 'snapshotting' },
        { guard: 'hasQueuedRecords', target: 'writing' },
      ],
    },
    snapshotting: {
      description:
        'Everything before the snapshot request is durable: the snapshot file is written, synced and renamed into place, the log starts afresh after it (§7), and only then may storage delete what no kept snapshot needs.',
      entry: 'takeSnapshot',
      initial: 'writingSnapshot',
      states: {
        writingSnapshot: {
          description: 'The snapshot, and the log after it, written by storage.',
          invoke: { src: 'writeSnapshot', input: ({ context }) => ({ snapshot: context.snapshotWrite ?? undefined }) },
          on: {
            'storage.done': {
              target: '#durableLog.idle',
              actions: ['confirmBatch', 'reportSynced'],
              description: 'The snapshot and the log after it are durable: report the position, with the snapshot index.',
            },
            'storage.failed': { target: 'backingOff', actions: 'recordFailure' },
          },
        },
        backingOff: {
          description: 'Writing the snapshot failed: back off, then write it again from the top (a fresh temporary file), unless the retries are spent.',
          entry: 'countAttempt',
          always: { guard: not('hasAttemptsLeft'), target: '#durableLog.failed', description: 'The retries are spent.' },
          after: { retryBackoff: { target: 'writingSnapshot' } },
        },
      },
    },
    writing: {
      description: 'One write of every request queued so far (group commit); requests arriving from now on wait for the next batch.',
      entry: 'takeBatch',
      invoke: { src: 'writeRecords', input: ({ context }) => ({ records: context.batch }) },
      on: {
        'storage.done': { target: 'syncing' },
        'storage.failed': { target: 'retrying', actions: 'recordFailure' },
      },
    },
    syncing: {
      description: 'One fdatasync covers the whole batch: entries and hard state become durable together.',
      invoke: { src: 'syncRecords', input: () => ({}) },
      on: {
        'storage.done': {
          target: 'idle',
          actions: ['confirmBatch', 'reportSynced'],
          description: 'The batch is durable: report the position after its last request, then take the next batch.',
        },
        'storage.failed': { target: 'retrying', actions: 'recordFailure' },
      },
    },
    retrying: {
      description: 'A write or sync failed. Never sync that file again (fsyncgate): back off, then rewrite the whole unconfirmed batch to a fresh segment.',
      entry: 'countAttempt',
      initial: 'backingOff',
      states: {
        backingOff: {
          description: 'Waiting retryBackoff (doubling with each attempt) before the rewrite, unless the retries are spent.',
          always: { guard: not('hasAttemptsLeft'), target: '#durableLog.failed', description: 'The retries are spent.' },
          after: { retryBackoff: { target: 'rewriting' } },
        },
        rewriting: {
          description: 'The whole unconfirmed batch goes to a fresh segment, written and synced there.',
          invoke: { src: 'rewriteRecords', input: ({ context }) => ({ records: context.batch }) },
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
      on: {
        'log.append': { description: 'Ignored: nothing is written after the durable log failed.' },
        'log.truncate': {},
        'log.saveHardState': {},
        'log.snapshot': {},
        'log.requests': {},
      },
    },
  },
});

/** How many requests at the queue's head form one batch: up to batchRecordsMax, stopping before a snapshot request. */
function batchEnd(queue: readonly DurableLogRequest[]): number {
  const end = Math.min(queue.length, batchRecordsMax);
  for (let i = 0; i < end; i++) if (queue[i].type === 'log.snapshot') return i;
  return end;
}

/** Queues one request, in place (O(1), no copy of the context). */
function enqueue(context: DurableLogContext, request: DurableLogRequest): void {
  // The message is built only on failure: formatting it for every request would cost more than the rest.
  if (!(request.seq > context.receivedSeq)) assert(false, `durable-log request seq ${request.seq} after ${context.receivedSeq}: seqs must increase`);
  if (context.queue.length >= queuedRequestsMax) assert(false, `more than ${queuedRequestsMax} durable-log requests wait for storage`);
  context.queue.push(request);
  context.receivedSeq = request.seq;
}

/**
 * The records storage writes for `requests`, in order; an empty append writes nothing. Appends
 * that continue one another (the next starts right after the last) share one entries record:
 * one frame and one checksum for a batch of single-entry appends instead of one each.
 */
function recordsOf(requests: readonly DurableLogRequest[]): LogRecord[] {
  const records: LogRecord[] = [];
  // The entries of the last record while it is an entries record that later appends may extend:
  // the request's own array until a merge needs a copy of it (run !== null, merged === null).
  let run: readonly Entry[] | null = null;
  let merged: Entry[] | null = null;
  let runBytes = 0;
  for (const request of requests) {
    switch (request.type) {
      case 'log.append': {
        if (request.entries.length === 0) break;
        const bytes = commandBytesOf(request.entries);
        if (run !== null && request.entries[0].index === run[run.length - 1].index + 1 && runBytes + bytes <= mergedRecordCommandBytesMax) {
          if (merged === null) records[records.length - 1] = { type: 'entries', entries: (merged = run.slice()) };
          const into: Entry[] = merged;
          for (const entry of request.entries) into.push(entry);
          run = into;
          runBytes += bytes;
          break;
        }
        run = request.entries;
        merged = null;
        runBytes = bytes;
        records.push({ type: 'entries', entries: run });
        break;
      }
      case 'log.truncate':
        records.push({ type: 'truncate', fromIndex: request.fromIndex });
        run = null;
        break;
      case 'log.saveHardState':
        records.push({ type: 'hardState', hardState: request.hardState });
        run = null;
        break;
      case 'log.snapshot':
        assert(false, 'a snapshot request in a batch: takeBatch stops before it');
    }
  }
  return records;
}

function commandBytesOf(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += entry.command.length;
  return bytes;
}

/** The durable position once `requests` apply after `start`; requests move only the log's end, the hard state and seq. */
function positionAfter(start: DurablePosition, requests: readonly DurableLogRequest[]): DurablePosition {
  let { lastIndex, lastTerm, hardState, snapshotIndex } = start;
  for (const request of requests) {
    switch (request.type) {
      case 'log.append':
        if (request.entries.length > 0) {
          const last = request.entries[request.entries.length - 1];
          lastIndex = last.index;
          lastTerm = last.term;
        }
        break;
      case 'log.truncate':
        if (request.fromIndex <= lastIndex) {
          lastIndex = request.fromIndex - 1;
          lastTerm = request.prevTerm;
        }
        break;
      case 'log.saveHardState':
        hardState = request.hardState;
        break;
      case 'log.snapshot': {
        const last = request.entries.at(-1);
        lastIndex = last?.index ?? request.snapshot.index;
        lastTerm = last?.term ?? request.snapshot.term;
        snapshotIndex = request.snapshot.index;
        break;
      }
    }
  }
  const seq = requests.length === 0 ? start.seq : requests[requests.length - 1].seq;
  return { seq, lastIndex, lastTerm, hardState, snapshotIndex };
}
