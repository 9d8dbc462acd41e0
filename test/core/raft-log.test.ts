import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/core/raft-log.ts';
import type { Entry, EntryKind } from '../../src/protocol/types.ts';

/** An entry whose command spells its index and term, so a misplaced one shows. */
function entry(index: number, term: number, kind: EntryKind = 'command'): Entry {
  return { index, term, kind, command: kind === 'command' ? new TextEncoder().encode(`${index}@${term}`) : new Uint8Array(0) };
}

function plain(e: Entry) {
  return { index: e.index, term: e.term, kind: e.kind, command: Array.from(e.command) };
}

/**
 * Every read of `log` against the model array (entries 1..n by index - 1), of which the log holds
 * those after `base` (0: all); the base keeps its term, indexes before it read as compacted.
 */
function expectSame(log: RaftLog, model: readonly Entry[], base = 0): void {
  expect(log.lastIndex).toBe(model.length);
  expect(log.baseIndex).toBe(base);
  expect(log.firstIndex).toBe(base + 1);
  expect(log.lastTerm).toBe(model.at(-1)?.term ?? 0);
  expect(log.termAt(base)).toBe(base === 0 ? 0 : model[base - 1].term);
  if (base > 0) expect(log.termAt(base - 1)).toBeUndefined();
  expect(log.termAt(model.length + 1)).toBeUndefined();
  for (let index = base + 1; index <= model.length; index++) {
    expect(log.termAt(index)).toBe(model[index - 1].term);
    expect(plain(log.entryAt(index))).toEqual(plain(model[index - 1]));
  }
  const held = model.slice(base);
  expect(log.slice(0, model.length + 5).map(plain)).toEqual(held.map(plain));
  expect(log.slice(base + 2, base + 5).map(plain)).toEqual(held.slice(1, 4).map(plain));
  expect(log.sliceBounded(base + 1, 3, 1 << 20).map(plain)).toEqual(held.slice(0, 3).map(plain));
}

describe('RaftLog: old entries packed into chunks read back the same as the appended ones', () => {
  it('keeps every index, term, kind and command across packing, with chunks of 3', () => {
    const log = new RaftLog([], { chunkEntries: 3 });
    const model: Entry[] = [];
    for (let index = 1; index <= 20; index++) {
      const e = entry(index, 1 + Math.floor(index / 7), index % 5 === 0 ? 'noop' : 'command');
      log.append([e]);
      model.push(e);
    }
    expectSame(log, model);
    expect(log.entryAt(20)).toBe(model[19]); // the hot tail keeps the appended objects
    expect(log.firstIndexOfTermAt(10)).toBe(7);
    expect(log.lastIndexOfTerm(2, 20)).toBe(13);
  });

  it('truncates into the packed part and appends after it', () => {
    const log = new RaftLog([], { chunkEntries: 2 });
    const model: Entry[] = [];
    for (let index = 1; index <= 12; index++) {
      model.push(entry(index, 1));
      log.append([model[index - 1]]);
    }
    log.truncateFrom(4);
    model.length = 3;
    expectSame(log, model);
    expect(log.removalCount).toBe(1);
    for (let index = 4; index <= 9; index++) {
      model.push(entry(index, 2));
      log.append([model[index - 1]]);
    }
    expectSame(log, model);
  });

  it('agrees with a plain array over any sequence of appends, truncations, compactions and resets (property)', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('append' as const), count: fc.integer({ min: 1, max: 9 }), bump: fc.boolean() }),
      fc.record({ op: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ op: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ op: fc.constant('reset' as const), ahead: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 40 }), (chunkEntries, steps) => {
        const log = new RaftLog([], { chunkEntries });
        const model: Entry[] = [];
        let term = 1;
        let base = 0;
        for (const s of steps) {
          if (s.op === 'append') {
            if (s.bump) term++;
            const batch = Array.from({ length: s.count }, (_, i) => entry(model.length + 1 + i, term));
            log.append(batch);
            model.push(...batch);
          } else if (s.op === 'truncate') {
            const from = Math.max(base + 1, model.length - s.back);
            log.truncateFrom(from);
            model.length = Math.min(model.length, from - 1);
          } else if (s.op === 'compact') {
            const through = Math.max(base, model.length - s.back);
            log.compactThrough(through);
            base = through;
          } else {
            // A snapshot from a leader at or past the end of this log: everything after it is gone.
            term++;
            const end = model.length + s.ahead;
            for (let index = model.length + 1; index <= end; index++) model.push(entry(index, term));
            base = model.length;
            log.resetTo(base, model.at(-1)?.term ?? 0);
          }
          expect(log.lastIndex).toBe(model.length);
        }
        expectSame(log, model, base);
      }),
      { numRuns: 500 },
    );
  });

  it('starts after a base: the first entry follows the snapshot, and the base answers its term', () => {
    const model = Array.from({ length: 12 }, (_, i) => entry(i + 1, i < 6 ? 1 : 2));
    const log = new RaftLog(model.slice(8), { chunkEntries: 2, base: { index: 8, term: 2 } });
    expectSame(log, model, 8);
    expect(log.matches(8, 2)).toBe(true);
    expect(log.matches(7, 2)).toBe(false);
    expect(log.lastIndexOfTerm(2, 12)).toBe(12);
    expect(log.lastIndexOfTerm(1, 12)).toBe(0);
    expect(log.firstIndexOfTermAt(10)).toBe(9);
  });

  it('refuses to read, send or truncate a compacted entry', () => {
    const log = new RaftLog([entry(1, 1), entry(2, 1), entry(3, 1)]);
    log.compactThrough(2);
    expect(() => log.entryAt(2)).toThrow(/outside \[3, 3\]/);
    expect(() => log.sliceBounded(2, 10, 1 << 20)).toThrow(/compacted/);
    expect(() => log.truncateFrom(2)).toThrow(/compacted prefix/);
    expect(() => log.compactThrough(4)).toThrow(/past the log's end/);
  });
});
