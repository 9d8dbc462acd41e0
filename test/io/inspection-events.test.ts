import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/core/raft-log.ts';
import { summarize, summaryArrayItemsMax } from '../../src/io/inspection-events.ts';

describe('inspection event summaries', () => {
  it('keep plain data, cut long arrays, show bytes by length and a class by its getters', () => {
    const log = new RaftLog([
      { index: 1, term: 1, kind: 'noop', command: new Uint8Array(0) },
      { index: 2, term: 3, kind: 'command', command: new Uint8Array(5) },
    ]);
    const summary = summarize({
      currentTerm: 3,
      votedFor: null,
      log,
      commands: Array.from({ length: 20 }, (_, i) => new Uint8Array(i)),
      progress: { n2: { nextIndex: 3, matchIndex: 2 } },
      draw: () => 1,
    });
    expect(summary).toEqual({
      currentTerm: 3,
      votedFor: null,
      log: { class: 'RaftLog', lastIndex: 2, lastTerm: 3, removalCount: 0 },
      commands: [...Array.from({ length: summaryArrayItemsMax }, (_, i) => `[${i} bytes]`), `… ${20 - summaryArrayItemsMax} more`],
      progress: { n2: { nextIndex: 3, matchIndex: 2 } },
    });
    expect(summarize({ a: { b: { c: { d: { e: 1 } } } } })).toEqual({ a: { b: { c: { d: '…' } } } });
  });
});
