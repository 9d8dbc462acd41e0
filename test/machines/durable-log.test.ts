import { afterEach, describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock, type Actor, type AnyEventObject } from 'xstate';
import {
  batchRecordsMax,
  durableLogMachine,
  mergedRecordCommandBytesMax,
  type DurableLogReport,
  type DurableLogRequest,
  type SnapshotWrite,
} from '../../machines/durable-log.machine.ts';
import { durableLogHostMachine } from '../../src/io/durable-log-host.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import type { Entry } from '../../src/protocol/types.ts';

/**
 * The durable-log chart on its own, event by event: its storage actors are fakes that answer only
 * when told, and its backoff runs on a simulated clock.
 */

type CallKind = 'write' | 'sync' | 'rewrite' | 'snapshot';

interface StorageCall {
  readonly kind: CallKind;
  readonly records: readonly LogRecord[];
  readonly snapshot?: SnapshotWrite;
}

/** Storage actors that record each call and hold its answer until the test gives it. */
class HeldStorage {
  readonly calls: StorageCall[] = [];
  #answer: ((event: AnyEventObject) => void) | null = null;

  readonly actors = {
    writeRecords: this.#actor('write'),
    syncRecords: this.#actor('sync'),
    rewriteRecords: this.#actor('rewrite'),
    writeSnapshot: this.#actor('snapshot'),
  };

  /** The kind of the call waiting for an answer, or null. */
  get inFlight(): CallKind | null {
    return this.#answer === null ? null : this.calls[this.calls.length - 1].kind;
  }

  succeed(): void {
    this.#take()({ type: 'storage.done' });
  }

  fail(code = 'EIO'): void {
    this.#take()({ type: 'storage.failed', failure: { code, message: `${code}: injected` } });
  }

  kinds(): string {
    return this.calls.map((call) => call.kind).join(' ');
  }

  #take(): (event: AnyEventObject) => void {
    const answer = this.#answer;
    if (answer === null) throw new Error('no storage call in flight');
    this.#answer = null;
    return answer;
  }

  #actor(kind: CallKind) {
    return fromCallback<AnyEventObject, { records?: readonly LogRecord[]; snapshot?: SnapshotWrite }>(({ input, sendBack }) => {
      this.calls.push({ kind, records: input.records ?? [], ...(input.snapshot === undefined ? {} : { snapshot: input.snapshot }) });
      this.#answer = sendBack;
      return () => {
        this.#answer = null;
      };
    });
  }
}

function entry(index: number, term = 1): Entry {
  return { index, term, kind: 'command', command: Uint8Array.of(index & 0xff) };
}

function append(seq: number, first: number, last = first, term = 1): DurableLogRequest {
  const entries: Entry[] = [];
  for (let index = first; index <= last; index++) entries.push(entry(index, term));
  return { type: 'log.append', seq, entries };
}

/** A short picture of records: 'e1-3' entries 1..3, 'h2' a hard state of term 2, 't4' truncate from 4. */
function picture(records: readonly LogRecord[]): string {
  return records
    .map((record) => {
      if (record.type === 'hardState') return `h${record.hardState.term}`;
      if (record.type === 'truncate') return `t${record.fromIndex}`;
      const first = record.entries[0].index;
      const last = record.entries[record.entries.length - 1].index;
      return first === last ? `e${first}` : `e${first}-${last}`;
    })
    .join(' ');
}

let running: Actor<typeof durableLogHostMachine> | null = null;

afterEach(() => {
  running?.stop();
  running = null;
});

function start(options: { retryAttemptsMax?: number; retryBackoffMsBase?: number } = {}) {
  const storage = new HeldStorage();
  const clock = new SimulatedClock();
  const machine = durableLogHostMachine.provide({ actors: { durableLog: durableLogMachine.provide({ actors: storage.actors }) } });
  const host = createActor(machine, { input: options, clock });
  const reports: DurableLogReport[] = [];
  const errors: unknown[] = [];
  host.on('log.synced', (report) => reports.push(report));
  host.on('log.failed', (report) => reports.push(report));
  host.subscribe({ error: (error) => errors.push(error) });
  host.start();
  running = host;
  const log = host.getSnapshot().children.durableLog;
  if (log === undefined) throw new Error('the durable log did not start');
  return {
    storage,
    clock,
    reports,
    errors,
    send: (request: DurableLogRequest) => log.send(request),
    sendMany: (requests: readonly DurableLogRequest[]) => log.send({ type: 'log.requests', requests }),
    state: () => JSON.stringify(log.getSnapshot().value),
    syncedSeqs: () => reports.flatMap((report) => (report.type === 'log.synced' ? [report.position.seq] : [])),
  };
}

describe('durable-log chart: group commit', () => {
  it('writes the first request at once, and sends everything that arrives meanwhile as the next batch: one write, one sync', () => {
    const log = start();

    log.send(append(1, 1));
    expect(log.storage.inFlight).toBe('write');
    log.send(append(2, 2));
    log.send({ type: 'log.saveHardState', seq: 3, hardState: { term: 2, votedFor: 'n2' } });
    log.storage.succeed();
    expect(log.storage.inFlight).toBe('sync');
    log.send(append(4, 3, 5, 2));
    log.storage.succeed();
    log.storage.succeed();
    log.storage.succeed();

    expect(log.storage.kinds()).toBe('write sync write sync');
    expect(log.storage.calls.map((call) => picture(call.records))).toEqual(['e1', '', 'e2 h2 e3-5', '']);
    expect(log.syncedSeqs()).toEqual([1, 4]);
    expect(log.state()).toBe('"idle"');
  });

  it('reports, after each sync, the position after the last request of that batch and nothing further', () => {
    const log = start();

    log.send({ type: 'log.saveHardState', seq: 1, hardState: { term: 1, votedFor: 'n1' } });
    log.send(append(2, 1, 4));
    log.storage.succeed();
    log.send({ type: 'log.truncate', seq: 3, fromIndex: 3, prevTerm: 1 });
    log.storage.succeed();

    expect(log.reports).toEqual([
      { type: 'log.synced', position: { seq: 1, lastIndex: 0, lastTerm: 0, hardState: { term: 1, votedFor: 'n1' }, snapshotIndex: 0 } },
    ]);
    log.storage.succeed();
    log.storage.succeed();
    expect(log.reports.slice(1)).toEqual([
      { type: 'log.synced', position: { seq: 3, lastIndex: 2, lastTerm: 1, hardState: { term: 1, votedFor: 'n1' }, snapshotIndex: 0 } },
    ]);
  });

  it(`hands at most batchRecordsMax (${batchRecordsMax}) requests to one write; the rest go in the next`, () => {
    const log = start();
    log.send(append(1, 1));
    for (let seq = 2; seq <= batchRecordsMax + 2; seq++) log.send(append(seq, seq));
    log.storage.succeed();
    log.storage.succeed();

    // The 8192 requests of seq 2 and on continue one another: one entries record.
    expect(log.storage.calls[2].records.map((record) => picture([record]))).toEqual([`e2-${batchRecordsMax + 1}`]);
    log.storage.succeed();
    log.storage.succeed();
    expect(log.storage.calls[4].records.map((record) => picture([record]))).toEqual([`e${batchRecordsMax + 2}`]);
    log.storage.succeed();
    log.storage.succeed();
    expect(log.syncedSeqs()).toEqual([1, batchRecordsMax + 1, batchRecordsMax + 2]);
  });

  it('takes requests sent together as one log.requests event like the same requests one by one, and writes a continuing run of appends as one record', () => {
    const log = start();
    log.send(append(1, 1));
    log.sendMany([append(2, 2), append(3, 3, 4), { type: 'log.truncate', seq: 4, fromIndex: 4, prevTerm: 1 }, append(5, 4), append(6, 3)]);
    log.storage.succeed();
    log.storage.succeed();
    log.storage.succeed();
    log.storage.succeed();

    expect(log.storage.calls.map((call) => picture(call.records))).toEqual(['e1', '', 'e2-4 t4 e4 e3', '']);
    expect(log.syncedSeqs()).toEqual([1, 6]);
  });

  it(`merges appends into one record only up to mergedRecordCommandBytesMax (${mergedRecordCommandBytesMax}) command bytes`, () => {
    const log = start();
    const half = (seq: number): DurableLogRequest => ({
      type: 'log.append',
      seq,
      entries: [{ index: seq, term: 1, kind: 'command', command: new Uint8Array(mergedRecordCommandBytesMax / 2) }],
    });
    const requests = [half(1), half(2), half(3)];
    log.sendMany(requests);

    expect(picture(log.storage.calls[0].records)).toBe('e1-2 e3');
    // A merge copies the first run; the requests' own entry arrays stay as the chart sent them.
    expect(requests.map((request) => (request.type === 'log.append' ? request.entries.length : -1))).toEqual([1, 1, 1]);
  });

  it('refuses a request whose seq does not increase: a bug in the caller, so the actor errors loudly', () => {
    const log = start();
    log.send(append(1, 1));
    log.send(append(1, 2));

    expect(String(log.errors[0])).toMatch(/seq 1 after 1/);
  });
});

describe('durable-log chart: retry after a failed write or sync', () => {
  it('never syncs after a failed sync: it backs off, then rewrites the whole unconfirmed batch', () => {
    const log = start({ retryBackoffMsBase: 10 });
    log.send(append(1, 1));
    log.storage.succeed();
    log.storage.succeed();
    log.send(append(2, 2));
    log.send(append(3, 3, 4));
    log.storage.succeed();
    log.storage.succeed();
    log.storage.succeed();
    log.storage.fail();

    expect(log.state()).toBe('{"retrying":"backingOff"}');
    log.clock.increment(9);
    expect(log.storage.inFlight).toBeNull();
    log.clock.increment(1);
    expect(log.storage.inFlight).toBe('rewrite');
    log.storage.succeed();

    expect(log.storage.kinds()).toBe('write sync write sync write sync rewrite');
    expect(picture(log.storage.calls[6].records)).toBe('e3-4');
    expect(log.syncedSeqs()).toEqual([1, 2, 3]);
    expect(log.state()).toBe('"idle"');
  });

  it('rewrites the batch after a failed write too, with requests that arrived meanwhile left for the next batch', () => {
    const log = start({ retryBackoffMsBase: 5 });
    log.send(append(1, 1, 2));
    log.storage.fail('EIO');
    log.send(append(2, 3));
    log.clock.increment(5);
    log.storage.succeed();
    log.storage.succeed();
    log.storage.succeed();

    expect(log.storage.kinds()).toBe('write rewrite write sync');
    expect(log.storage.calls.map((call) => picture(call.records))).toEqual(['e1-2', 'e1-2', 'e3', '']);
    expect(log.syncedSeqs()).toEqual([1, 2]);
  });

  it('doubles the backoff for each further attempt (named delay retryBackoff)', () => {
    const log = start({ retryBackoffMsBase: 10, retryAttemptsMax: 3 });
    log.send(append(1, 1));
    log.storage.fail();
    log.clock.increment(10);
    log.storage.fail();
    log.clock.increment(19);

    expect(log.storage.inFlight).toBeNull();
    log.clock.increment(1);
    expect(log.storage.inFlight).toBe('rewrite');
  });

  it('gives up after retryAttemptsMax rewrites: failed, one log.failed, and nothing written or synced after', () => {
    const log = start({ retryBackoffMsBase: 1, retryAttemptsMax: 2 });
    log.send(append(1, 1));
    log.storage.succeed();
    log.storage.fail('ENOSPC');
    log.clock.increment(1);
    log.storage.fail('ENOSPC');
    log.clock.increment(2);
    log.storage.fail('ENOSPC');
    log.send(append(2, 2));
    log.clock.increment(1000);

    expect(log.state()).toBe('"failed"');
    expect(log.storage.kinds()).toBe('write sync rewrite rewrite');
    expect(log.reports).toHaveLength(1);
    expect(log.reports[0]).toMatchObject({ type: 'log.failed', failure: { code: 'ENOSPC' } });
  });

  it('starts counting afresh once a rewrite succeeds', () => {
    const log = start({ retryBackoffMsBase: 1, retryAttemptsMax: 1 });
    log.send(append(1, 1));
    log.storage.fail();
    log.clock.increment(1);
    log.storage.succeed();
    log.send(append(2, 2));
    log.storage.fail();
    log.clock.increment(1);
    log.storage.succeed();

    expect(log.storage.kinds()).toBe('write rewrite write rewrite');
    expect(log.syncedSeqs()).toEqual([1, 2]);
  });
});

describe('durable-log chart: snapshots (§7)', () => {
  const snapshotRequest = (seq: number, index: number, suffix: readonly Entry[] = []): DurableLogRequest => ({
    type: 'log.snapshot',
    seq,
    snapshot: { index, term: 1, servers: ['n1'], data: Uint8Array.of(index) },
    entries: suffix,
  });

  it('writes a snapshot alone, once everything before it is durable, with the synced hard state; later requests wait for it', () => {
    const log = start();
    log.send({ type: 'log.saveHardState', seq: 1, hardState: { term: 3, votedFor: 'n2' } });
    log.send(append(2, 1, 5));
    log.send(snapshotRequest(3, 4, [entry(5)]));
    log.send(append(4, 6));
    // The hard state went out alone at once; the append is the next batch, which stops before the snapshot.
    for (let call = 0; call < 4; call++) log.storage.succeed();
    expect(log.storage.inFlight).toBe('snapshot');
    expect(log.storage.calls.at(-1)?.snapshot).toMatchObject({ snapshot: { index: 4 }, hardState: { term: 3, votedFor: 'n2' }, entries: [entry(5)] });
    log.storage.succeed();
    log.storage.succeed();
    log.storage.succeed();
    expect(log.storage.kinds()).toBe('write sync write sync snapshot write sync');
    expect(log.storage.calls.map((call) => picture(call.records))).toEqual(['h3', '', 'e1-5', '', '', 'e6', '']);
    expect(log.reports.map((report) => report.type === 'log.synced' && [report.position.seq, report.position.snapshotIndex, report.position.lastIndex])).toEqual([
      [1, 0, 0],
      [2, 0, 5],
      [3, 4, 5],
      [4, 4, 6],
    ]);
  });

  it('writes a failed snapshot again from the top after the backoff, and fail-stops once the retries are spent', () => {
    const log = start({ retryAttemptsMax: 1, retryBackoffMsBase: 10 });
    log.send(snapshotRequest(1, 7));
    log.storage.fail('ENOSPC');
    expect(log.state()).toBe('{"snapshotting":"backingOff"}');
    log.clock.increment(10);
    expect(log.storage.inFlight).toBe('snapshot');
    log.storage.fail('EIO');
    expect(log.state()).toBe('"failed"');
    expect(log.storage.kinds()).toBe('snapshot snapshot');
    expect(log.reports).toMatchObject([{ type: 'log.failed', failure: { code: 'EIO' } }]);
  });

  it('reports a snapshot durable after a retry succeeds, with its index', () => {
    const log = start({ retryBackoffMsBase: 5 });
    log.send(snapshotRequest(1, 9));
    log.storage.fail();
    log.clock.increment(5);
    log.storage.succeed();
    expect(log.reports).toMatchObject([{ type: 'log.synced', position: { seq: 1, snapshotIndex: 9, lastIndex: 9, lastTerm: 1 } }]);
    expect(log.state()).toBe('"idle"');
  });
});
