import fc from 'fast-check';
import type { LogRecord } from '../../src/protocol/records.ts';
import type { Entry, EntryKind, HardState, RecoveredState } from '../../src/protocol/types.ts';

/** Test helpers: record builders, fast-check arbitraries, and a model of log replay. */

export function entry(index: number, term = 1, command: Uint8Array = commandFor(index), kind: EntryKind = 'command'): Entry {
  return { index, term, kind, command };
}

/** A command whose bytes depend on its index, so a misplaced or damaged entry shows. */
export function commandFor(index: number, length = 16 + (index % 50)): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (index * 31 + i * 7) & 0xff;
  return bytes;
}

export function entries(first: number, last: number, term = 1): LogRecord {
  const list: Entry[] = [];
  for (let index = first; index <= last; index++) list.push(entry(index, term));
  return { type: 'entries', entries: list };
}

export function hardState(term: number, votedFor: string | null = null): LogRecord {
  return { type: 'hardState', hardState: { term, votedFor } };
}

const kindArbitrary = fc.constantFrom<EntryKind>('command', 'noop', 'config');
const termArbitrary = fc.oneof(fc.nat({ max: 10 }), fc.maxSafeNat());
const commandArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  // Large commands are built from a seed: fast-check generating 64 KiB byte by byte is slow.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 60_000, max: 70_000 }), fc.nat()).map(([length, seed]) => commandFor(seed, length)) },
);
const entryBodyArbitrary = fc.record({ term: termArbitrary, kind: kindArbitrary, command: commandArbitrary });

/** Any well-formed record: every type, empty and large commands, huge terms and indexes, any votedFor. */
export const recordArbitrary: fc.Arbitrary<LogRecord> = fc.oneof(
  fc
    .record({ term: termArbitrary, votedFor: fc.option(fc.string({ unit: 'grapheme', maxLength: 40 }), { nil: null }) })
    .map((state: HardState): LogRecord => ({ type: 'hardState', hardState: state })),
  fc
    .tuple(fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER - 100)), fc.array(entryBodyArbitrary, { maxLength: 8 }))
    .map(([first, bodies]): LogRecord => ({ type: 'entries', entries: bodies.map((body, i) => ({ index: first + i, ...body })) })),
  fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })).map((fromIndex): LogRecord => ({ type: 'truncate', fromIndex })),
);

/** One step of a log's life, turned into a valid record (no gaps) by validRecords. */
export type Step =
  | { readonly kind: 'append'; readonly count: number; readonly term: number; readonly commandBytes: number }
  | { readonly kind: 'truncate'; readonly back: number }
  | { readonly kind: 'vote'; readonly term: number; readonly votedFor: string | null };

export const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 4 }), term: fc.integer({ min: 1, max: 5 }), commandBytes: fc.nat({ max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.nat({ max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('vote' as const), term: fc.integer({ min: 1, max: 9 }), votedFor: fc.option(fc.constantFrom('n1', 'n2', 'n3'), { nil: null }) }) },
);

/** Turns steps into records a real log could hold: appends continue the log, truncations cut inside it. */
export function validRecords(steps: readonly Step[], lastIndexAtStart = 0): LogRecord[] {
  let last = lastIndexAtStart;
  const records: LogRecord[] = [];
  for (const step of steps) {
    if (step.kind === 'append') {
      const list: Entry[] = [];
      for (let i = 1; i <= step.count; i++) list.push(entry(last + i, step.term, commandFor(last + i, step.commandBytes)));
      records.push({ type: 'entries', entries: list });
      last += step.count;
    } else if (step.kind === 'truncate') {
      const fromIndex = Math.max(1, last - step.back + 1);
      records.push({ type: 'truncate', fromIndex });
      last = Math.min(last, fromIndex - 1);
    } else {
      records.push(hardState(step.term, step.votedFor));
    }
  }
  return records;
}

/** The state replaying `records` must give, computed the plain way. */
export function replayModel(records: readonly LogRecord[]): RecoveredState {
  let state: HardState = { term: 0, votedFor: null };
  let log: Entry[] = [];
  for (const record of records) {
    if (record.type === 'hardState') state = record.hardState;
    else if (record.type === 'truncate') log = log.filter((e) => e.index < record.fromIndex);
    else if (record.entries.length > 0) log = [...log.filter((e) => e.index < record.entries[0].index), ...record.entries];
  }
  return { hardState: state, entries: log };
}

/** A recovered state with commands as base64 strings, for cheap and readable equality. */
export function comparable(state: RecoveredState): unknown {
  return { hardState: state.hardState, entries: state.entries.map((e) => ({ ...e, command: Buffer.from(e.command).toString('base64') })) };
}

/** Records with commands as base64 strings: cheap, readable deep equality even for 64 KiB commands. */
export function comparableRecords(records: readonly LogRecord[]): unknown[] {
  return records.map((record) =>
    record.type === 'entries'
      ? { ...record, entries: record.entries.map((e) => ({ ...e, command: Buffer.from(e.command).toString('base64') })) }
      : record,
  );
}

/** What `promise` rejects with; a promise that resolves fails the test. */
export async function thrownBy(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
