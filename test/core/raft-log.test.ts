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

/** Every read of `log` against the model array. */
function expectSame(log: RaftLog, model: readonly Entry[]): void {
  expect(log.lastIndex).toBe(model.length);
  expect(log.lastTerm).toBe(model.at(-1)?.term ?? 0);
  expect(log.termAt(0)).toBe(0);
  expect(log.termAt(model.length + 1)).toBeUndefined();
  for (let index = 1; index <= model.length; index++) {
    expect(log.termAt(index)).toBe(model[index - 1].term);
    expect(plain(log.entryAt(index))).toEqual(plain(model[index - 1]));
  }
  expect(log.slice(0, model.length + 5).map(plain)).toEqual(model.map(plain));
  expect(log.slice(2, 5).map(plain)).toEqual(model.slice(1, 4).map(plain));
  expect(log.sliceBounded(1, 3, 1 << 20).map(plain)).toEqual(model.slice(0, 3).map(plain));
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

  it('agrees with a plain array over any sequence of appends and truncations (property)', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('append' as const), count: fc.integer({ min: 1, max: 9 }), bump: fc.boolean() }),
      fc.record({ op: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 30 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 40 }), (chunkEntries, steps) => {
        const log = new RaftLog([], { chunkEntries });
        const model: Entry[] = [];
        let term = 1;
        for (const s of steps) {
          if (s.op === 'append') {
            if (s.bump) term++;
            const batch = Array.from({ length: s.count }, (_, i) => entry(model.length + 1 + i, term));
            log.append(batch);
            model.push(...batch);
          } else {
            const from = Math.max(1, model.length - s.back);
            log.truncateFrom(from);
            model.length = Math.min(model.length, from - 1);
          }
          expect(log.lastIndex).toBe(model.length);
        }
        expectSame(log, model);
      }),
      { numRuns: 300 },
    );
  });
});
