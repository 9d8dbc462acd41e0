import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, type Actor } from 'xstate';
import type { DurableLogRequest } from '../../machines/durable-log.machine.ts';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { AssertionError } from '../../src/core/assert.ts';
import { startDurableLog, type DurableLogHandle } from '../../src/io/durable-log-host.ts';
import { FaultFileSystem, type FaultCall } from '../../src/io/fault-file-system.ts';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';
import { provideDurableLog } from '../../src/io/storage-actors.ts';
import { openWal, type Wal } from '../../src/io/wal.ts';
import type { RaftMessage } from '../../src/protocol/messages.ts';
import type { DurablePosition, LogRecord } from '../../src/protocol/records.ts';
import type { LogStorage, StorageFailure } from '../../src/protocol/storage.ts';
import type { RecoveredState } from '../../src/protocol/types.ts';
import { comparable, entries, hardState, replayModel, stepArbitrary, validRecords } from './records.ts';

/**
 * The durable-log chart with its storage actors over the real write-ahead log, on a fault-injecting
 * file system over memory: what it acknowledges survives faults and crashes, and what it cannot make
 * durable it never acknowledges.
 */

const dir = '/log';

/** Waits, a turn of the event loop at a time, until `condition` holds; the limit only stops a hung test. */
async function until(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** One durable log over a Wal in `dir`, with everything it reported. */
interface Running {
  readonly wal: Wal;
  readonly log: DurableLogHandle;
  readonly synced: DurablePosition[];
  readonly failed: StorageFailure[];
  readonly errors: unknown[];
  readonly state: () => string;
  readonly syncedSeq: () => number;
}

/**
 * What each test leaves running; afterEach stops and closes it, even when the test failed, in the
 * order it was started: held fdatasyncs are released before a Wal's close waits for them.
 */
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A fault file system over memory whose slow fdatasyncs wait until the test releases them. */
function faultFileSystem() {
  const memory = new MemoryFileSystem();
  const heldSyncs: (() => void)[] = [];
  const fault = new FaultFileSystem(memory, { sleep: () => new Promise<void>((resolve) => heldSyncs.push(resolve)) });
  cleanups.push(async () => {
    fault.clearFaults();
    for (const release of heldSyncs.splice(0)) release();
  });
  return { fault, heldSyncs };
}

async function startLog(fs: FaultFileSystem, options: { retryAttemptsMax?: number } = {}): Promise<Running> {
  const { wal } = await openWal(fs, dir);
  const synced: DurablePosition[] = [];
  const failed: StorageFailure[] = [];
  const errors: unknown[] = [];
  const log = startDurableLog(wal, { retryBackoffMsBase: 1, ...options, onError: (error) => errors.push(error) });
  log.on('log.synced', ({ position }) => synced.push(position));
  log.on('log.failed', ({ failure }) => failed.push(failure));
  cleanups.push(async () => {
    log.stop();
    await wal.close().catch(() => undefined);
  });
  return {
    wal,
    log,
    synced,
    failed,
    errors,
    state: () => JSON.stringify(log.actor.getSnapshot().value),
    syncedSeq: () => synced[synced.length - 1]?.seq ?? 0,
  };
}

/** Stops the log, loses power, and recovers what the disk kept. */
async function crashAndRecover(running: Running, fs: FaultFileSystem): Promise<RecoveredState> {
  running.log.stop();
  fs.clearFaults();
  fs.crash();
  const { wal, recovered } = await openWal(fs, dir);
  await wal.close();
  return recovered;
}

/** The request that asks the durable log for `record`. */
function requestOf(record: LogRecord, seq: number, log: RecoveredState): DurableLogRequest {
  if (record.type === 'entries') return { type: 'log.append', seq, entries: record.entries };
  if (record.type === 'hardState') return { type: 'log.saveHardState', seq, hardState: record.hardState };
  return { type: 'log.truncate', seq, fromIndex: record.fromIndex, prevTerm: log.entries[record.fromIndex - 2]?.term ?? 0 };
}

/** Sends `records` as requests seq `firstSeq`, `firstSeq + 1`, … */
function sendAll(running: Running, records: readonly LogRecord[], firstSeq: number, before: readonly LogRecord[] = []): number {
  let seq = firstSeq;
  const applied = [...before];
  for (const record of records) {
    running.log.send(requestOf(record, seq, replayModel(applied)));
    applied.push(record);
    seq++;
  }
  return seq - 1;
}

/** Calls after the first injected failure that wrote to or synced `path`. */
function touchesAfterFailure(calls: readonly FaultCall[], path: string): FaultCall[] {
  const failedAt = calls.findIndex((call) => call.injected);
  expect(failedAt).toBeGreaterThanOrEqual(0);
  return calls.slice(failedAt + 1).filter((call) => call.path === path && (call.operation === 'write' || call.operation === 'datasync'));
}

describe('durable log over the write-ahead log: one injected fault each', () => {
  it('retries a transient EIO on write without loss, and never touches the failed file again', async () => {
    const { fault } = faultFileSystem();
    const running = await startLog(fault);
    const confirmed = [hardState(1, 'n1'), entries(1, 3)];
    sendAll(running, confirmed, 1);
    await until(() => running.syncedSeq() === 2, 'the first records to be synced');
    const failedFile = running.wal.position.segment;
    fault.failOn({ operation: 'write', code: 'EIO', nth: 1, bytesWrittenBeforeFailure: 7 });

    const retried = [entries(4, 6, 2), hardState(2, 'n2')];
    sendAll(running, retried, 3, confirmed);
    await until(() => running.syncedSeq() === 4, 'the retried records to be synced');
    const recovered = await crashAndRecover(running, fault);

    expect(comparable(recovered)).toEqual(comparable(replayModel([...confirmed, ...retried])));
    expect(touchesAfterFailure(fault.calls, failedFile)).toEqual([]);
    expect(running.failed).toEqual([]);
  });

  it('retries a transient EIO on fdatasync without loss, and never syncs the failed file again', async () => {
    const { fault } = faultFileSystem();
    const running = await startLog(fault);
    const confirmed = [entries(1, 2)];
    sendAll(running, confirmed, 1);
    await until(() => running.syncedSeq() === 1, 'the first records to be synced');
    const failedFile = running.wal.position.segment;
    fault.failOn({ operation: 'datasync', code: 'EIO', nth: 1 });

    const retried = [entries(3, 5), hardState(3, 'n3')];
    sendAll(running, retried, 2, confirmed);
    await until(() => running.syncedSeq() === 3, 'the retried records to be synced');
    // The crash drops whatever the failed fdatasync left volatile: only the rewrite can have kept it.
    const recovered = await crashAndRecover(running, fault);

    expect(comparable(recovered)).toEqual(comparable(replayModel([...confirmed, ...retried])));
    expect(touchesAfterFailure(fault.calls, failedFile)).toEqual([]);
  });

  it('ends in failed after retryAttemptsMax rewrites when the disk stays full (ENOSPC), and says so once', async () => {
    const { fault } = faultFileSystem();
    const running = await startLog(fault, { retryAttemptsMax: 3 });
    sendAll(running, [entries(1, 1)], 1);
    await until(() => running.syncedSeq() === 1, 'the first record to be synced');
    fault.failOn({ operation: 'write', code: 'ENOSPC' });

    sendAll(running, [entries(2, 2)], 2, [entries(1, 1)]);
    await until(() => running.state() === '"failed"', 'the durable log to fail');

    expect(running.failed).toHaveLength(1);
    expect(running.failed[0].code).toBe('ENOSPC');
    expect(running.failed[0].message).toMatch(/fail-stop/);
    expect(fault.calls.filter((call) => call.injected)).toHaveLength(1 + 3);
    expect(running.syncedSeq()).toBe(1);
  });
});

describe('durable log under the raft-server chart: fail-stop', () => {
  it('puts the server in failed when the disk keeps failing: no vote granted, no AppendEntries acknowledged', async () => {
    const { fault } = faultFileSystem();
    const { wal, recovered } = await openWal(fault, dir);
    const sent: RaftMessage[] = [];
    // Election timeouts far beyond the test, so that only the messages below move the server.
    const config = { electionTimeoutMsMin: 1_000_000, electionTimeoutMsMax: 2_000_000, heartbeatIntervalMs: 50 };
    const machine = provideDurableLog(wal);
    const server: Actor<typeof raftServerMachine> = createActor(machine, {
      input: { id: 'n1', servers: ['n1', 'n2', 'n3'], randomSeed: 1, recovered, config, durableLog: { retryAttemptsMax: 2, retryBackoffMsBase: 1 } },
    });
    server.on('net.send', ({ message }) => sent.push(message));
    server.start();
    cleanups.push(async () => {
      server.stop();
      await wal.close().catch(() => undefined);
    });
    fault.failOn({ operation: 'datasync', code: 'EIO' });

    server.send({ type: 'rpc.requestVote', from: 'n2', to: 'n1', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    await until(() => server.getSnapshot().value === 'failed', 'the server to fail');
    server.send({
      type: 'rpc.appendEntries',
      from: 'n2',
      to: 'n1',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ index: 1, term: 1, kind: 'command', command: Uint8Array.of(1) }],
      leaderCommit: 0, round: 0,
    });
    server.send({ type: 'rpc.requestVote', from: 'n3', to: 'n1', term: 2, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(server.getSnapshot().value).toBe('failed');
    expect(server.getSnapshot().context.failure?.code).toBe('EIO');
    expect(sent.filter((m) => m.type === 'rpc.requestVote.reply' && m.voteGranted)).toEqual([]);
    expect(sent.filter((m) => m.type === 'rpc.appendEntries.reply' && m.success)).toEqual([]);
    // retryAttemptsMax reached the durable log through the raft-server chart's input: two rewrites, each a fresh segment.
    const failedAt = fault.calls.findIndex((call) => call.injected);
    const rewrites = fault.calls.slice(failedAt).filter((call) => call.operation === 'open' && call.path.endsWith('.wal.tmp'));
    expect(rewrites).toHaveLength(2);
  });
});

describe('durable log: group commit', () => {
  it('sends N appends that arrive while one fdatasync is held as exactly one more write and one more fdatasync', async () => {
    const { fault, heldSyncs } = faultFileSystem();
    const running = await startLog(fault);
    fault.slowDatasync({ delayMs: 1 });
    sendAll(running, [entries(1, 1)], 1);
    await until(() => heldSyncs.length === 1, 'the first fdatasync to be held');
    const callsBefore = fault.calls.length;
    const n = 50;

    for (let i = 2; i <= n + 1; i++) sendAll(running, [entries(i, i)], i);
    heldSyncs[0]();
    await until(() => heldSyncs.length === 2, 'the second fdatasync to be held');
    heldSyncs[1]();
    await until(() => running.syncedSeq() === n + 1, 'every append to be synced');

    const io = fault.calls.slice(callsBefore).filter((call) => call.operation === 'write' || call.operation === 'datasync');
    // The held fdatasync of the first batch finishes; then the N appends: one write, one fdatasync.
    expect(io.map((call) => call.operation)).toEqual(['datasync', 'write', 'datasync']);
    expect(running.synced.map((position) => position.seq)).toEqual([1, n + 1]);
    const recovered = await crashAndRecover(running, fault);
    expect(recovered.entries.map((entry) => entry.index)).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
  });

  it.each([
    { syncFinishes: false, expected: { lastIndex: 1, term: 0 } },
    { syncFinishes: true, expected: { lastIndex: 4, term: 2 } },
  ])('makes entries and a hard state of one batch durable together (crash with that batch synced: $syncFinishes)', async ({ syncFinishes, expected }) => {
    const { fault, heldSyncs } = faultFileSystem();
    const running = await startLog(fault);
    fault.slowDatasync({ delayMs: 1 });
    sendAll(running, [entries(1, 1)], 1);
    await until(() => heldSyncs.length === 1, 'the first fdatasync to be held');
    sendAll(running, [entries(2, 4, 2), hardState(2, 'n2')], 2, [entries(1, 1)]);
    heldSyncs[0]();
    await until(() => heldSyncs.length === 2, 'the second batch to reach its fdatasync');

    if (syncFinishes) {
      heldSyncs[1]();
      await until(() => running.syncedSeq() === 3, 'the second batch to be synced');
    }
    const recovered = await crashAndRecover(running, fault);

    expect({ lastIndex: recovered.entries.length, term: recovered.hardState.term }).toEqual(expected);
    expect(running.syncedSeq()).toBe(syncFinishes ? 3 : 1);
  });
});

/** One thing a test run does: send the next request, let a held fdatasync finish, or yield a turn. */
type Command = { readonly kind: 'send' } | { readonly kind: 'release' } | { readonly kind: 'turn' };

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'send' } as const) },
  { weight: 2, arbitrary: fc.constant({ kind: 'release' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'turn' } as const) },
);

describe('durable log: log.synced', () => {
  it('only grows, matches the requests up to its seq, and is never ahead of what recovery finds after a crash', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 12 }),
        fc.array(commandArbitrary, { maxLength: 40 }),
        fc.nat({ max: 64 }),
        async (steps, commands, tornWriteBytesKept) => {
          const records = validRecords(steps);
          const { fault, heldSyncs } = faultFileSystem();
          const running = await startLog(fault);
          fault.slowDatasync({ delayMs: 1 });
          let sentCount = 0;
          let released = 0;
          for (const command of [...commands, ...records.map(() => ({ kind: 'send' }) as const)]) {
            if (command.kind === 'send' && sentCount < records.length) {
              sendAll(running, [records[sentCount]], sentCount + 1, records.slice(0, sentCount));
              sentCount++;
            } else if (command.kind === 'release' && released < heldSyncs.length) {
              heldSyncs[released++]();
            } else {
              await new Promise((resolve) => setImmediate(resolve));
            }
          }
          running.log.stop();
          fault.clearFaults();
          fault.crash({ tornWriteBytesKept });
          const { wal, recovered } = await openWal(fault, dir);
          await wal.close();

          const seqs = running.synced.map((position) => position.seq);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          expect(new Set(seqs).size).toBe(seqs.length);
          for (const position of running.synced) {
            const model = replayModel(records.slice(0, position.seq));
            expect({ lastIndex: position.lastIndex, hardState: position.hardState }).toEqual({
              lastIndex: model.entries.length,
              hardState: model.hardState,
            });
          }
          // Recovery finds the records of some prefix of the requests, at least as long as the synced one.
          const syncedSeq = running.syncedSeq();
          const prefixes = Array.from({ length: sentCount - syncedSeq + 1 }, (_, i) => comparable(replayModel(records.slice(0, syncedSeq + i))));
          expect(prefixes).toContainEqual(comparable(recovered));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('durable-log handle', () => {
  it('hands the chart every request sent in one turn as one event: the first write already holds them all', async () => {
    const { wal } = await openWal(new MemoryFileSystem(), dir);
    const written: LogRecord[][] = [];
    const storage: LogStorage = {
      installSnapshot: async () => Promise.reject(new Error('no snapshot in this test')),
      write: (records) => {
        written.push([...records]);
        return wal.write(records);
      },
      sync: () => wal.sync(),
      rewrite: (records) => wal.rewrite(records),
      close: () => wal.close(),
    };
    const synced: number[] = [];
    const log = startDurableLog(storage);
    cleanups.push(async () => {
      log.stop();
      await wal.close();
    });
    log.on('log.synced', ({ position }) => synced.push(position.seq));
    const appends = [entries(1, 1), entries(2, 2), entries(3, 3)];
    appends.forEach((record, i) => log.send(requestOf(record, i + 1, { hardState: { term: 0, votedFor: null }, entries: [] })));
    await until(() => synced.length > 0, 'the first sync');

    expect(written).toEqual([[entries(1, 3)]]);
    expect(synced).toEqual([3]);
  });
});

describe('storage actors', () => {
  it('send nothing once stopped: a durable log stopped mid-write neither reports nor calls storage again', async () => {
    let finishWrite: () => void = () => undefined;
    const calls: string[] = [];
    const storage: LogStorage = {
      installSnapshot: async () => Promise.reject(new Error('no snapshot in this test')),
      write: () => {
        calls.push('write');
        return new Promise<void>((resolve) => (finishWrite = resolve));
      },
      sync: async () => void calls.push('sync'),
      rewrite: async () => void calls.push('rewrite'),
      close: async () => undefined,
    };
    const reports: string[] = [];
    const errors: unknown[] = [];
    const log = startDurableLog(storage, { onError: (error) => errors.push(error) });
    log.on('log.synced', () => reports.push('synced'));
    log.on('log.failed', () => reports.push('failed'));
    log.send({ type: 'log.append', seq: 1, entries: [{ index: 1, term: 1, kind: 'command', command: Uint8Array.of(1) }] });

    log.stop();
    finishWrite();
    await new Promise((resolve) => setTimeout(resolve, 10));

    expect(calls).toEqual(['write']);
    expect(reports).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('treat a rejection without an errno code (a failed assert in the storage) as a bug: the actor errors, nothing is retried', async () => {
    const calls: string[] = [];
    const storage: LogStorage = {
      installSnapshot: async () => Promise.reject(new Error('no snapshot in this test')),
      write: async () => {
        calls.push('write');
        throw new AssertionError('a gap in the log');
      },
      sync: async () => void calls.push('sync'),
      rewrite: async () => void calls.push('rewrite'),
      close: async () => undefined,
    };
    const errors: unknown[] = [];
    const reports: string[] = [];
    const log = startDurableLog(storage, { retryBackoffMsBase: 0, onError: (error) => errors.push(error) });
    log.on('log.failed', () => reports.push('failed'));
    log.send({ type: 'log.append', seq: 1, entries: [{ index: 1, term: 1, kind: 'command', command: Uint8Array.of(1) }] });
    await until(() => errors.length > 0, 'the bug to surface');
    log.stop();

    expect(String(errors[0])).toMatch(/a gap in the log/);
    expect(calls).toEqual(['write']);
    expect(reports).toEqual([]);
  });
});
