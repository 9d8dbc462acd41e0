import { describe, expect, it } from 'vitest';
import { fromWire, toWire, unpackCommands, unpackEntries, wireEncoder, packCommands } from '../../src/protocol/packing.ts';
import type { AppendEntries } from '../../src/protocol/messages.ts';
import { isRaftMessageFor, raftMessageProblem } from '../../src/protocol/validate.ts';

const append: AppendEntries = {
  type: 'rpc.appendEntries',
  from: 'n1',
  to: 'n2',
  term: 2,
  prevLogIndex: 3,
  prevLogTerm: 1,
  leaderCommit: 3, round: 0,
  entries: [
    { index: 4, term: 2, kind: 'noop', command: new Uint8Array(0) },
    { index: 5, term: 2, kind: 'command', command: new Uint8Array([1, 2, 3]) },
  ],
};

describe('validation at the worker boundary', () => {
  it('accepts a well-formed AppendEntries after a trip through the wire format', () => {
    const received = structuredClone(toWire(append));
    const message = fromWire(received);
    expect(isRaftMessageFor(message, 'n2')).toBe(true);
    expect(message).toEqual(append);
  });

  it('refuses wrong shapes, negative or non-integer indexes, gaps, and messages for someone else', () => {
    const cases: [unknown, string][] = [
      [null, 'not an object'],
      [{ ...append, to: 'n3' }, 'addressed to n3, not n2'],
      [{ ...append, from: 'n2' }, 'from itself'],
      [{ ...append, term: -1 }, 'bad term'],
      [{ ...append, prevLogIndex: 1.5 }, 'bad index'],
      [{ ...append, entries: [append.entries[1]] }, 'bad entries'],
      [{ ...append, entries: [{ ...append.entries[0], kind: 'weird' }] }, 'bad entries'],
      [{ ...append, type: 'rpc.other' }, 'unknown type'],
      [{ type: 'rpc.requestVote', from: 'n1', to: 'n2', term: 1, lastLogIndex: -1, lastLogTerm: 0, transfer: false }, 'bad last log position'],
      [{ type: 'rpc.requestVote', from: 'n1', to: 'n2', term: 1, lastLogIndex: 0, lastLogTerm: 0 }, 'bad transfer'],
      [{ type: 'rpc.preVote', from: 'n1', to: 'n2', term: 1, lastLogIndex: 0, lastLogTerm: -1 }, 'bad last log position'],
      [{ type: 'rpc.appendEntries.reply', from: 'n1', to: 'n2', term: 1, success: true, prevLogIndex: 0, matchIndex: 0, conflictTerm: 0, conflictIndex: 0 }, 'bad index'],
    ];
    for (const [value, problem] of cases) expect(raftMessageProblem(value, 'n2')).toBe(problem);
  });

  it('packs a run of entries once for every follower it goes to, and a different run afresh', () => {
    const encode = wireEncoder();
    const toN2 = encode(append);
    const toN3 = encode({ ...append, to: 'n3' });
    expect((toN3 as { entries: unknown }).entries).toBe((toN2 as { entries: unknown }).entries);
    const later = { ...append, prevLogIndex: 2, entries: [{ index: 3, term: 1, kind: 'command' as const, command: new Uint8Array([9]) }] };
    const packedLater = (encode(later) as { entries: unknown }).entries;
    expect(packedLater).not.toBe((toN2 as { entries: unknown }).entries);
    expect(unpackEntries(packedLater, 3)).toEqual(later.entries);
  });

  it('refuses packed commands whose ends run past the buffer or backwards', () => {
    const packed = packCommands([new Uint8Array([1]), new Uint8Array([2, 3])]);
    expect(unpackCommands(packed)?.map((c) => [...c])).toEqual([[1], [2, 3]]);
    expect(unpackCommands({ ...packed, ends: new Uint32Array([1, 9]) })).toBeNull();
    expect(unpackCommands({ ...packed, ends: new Uint32Array([2, 1]) })).toBeNull();
    expect(unpackCommands({ ...packed, count: 3 })).toBeNull();
    expect(fromWire({ ...toWire(append), entries: { ...packed, kinds: new Uint8Array([0, 7]) } })).toBeNull();
  });
});
