import { describe, expect, it } from 'vitest';
import { checkLinearizable, type Operation } from '../../src/sim/linearizability.ts';

/** A shorthand: [client, kind, key, value, invokedAt, returnedAt]. */
type Row = [string, Operation['kind'], string, string | null, number, number | null];
const history = (rows: Row[]): Operation[] =>
  rows.map(([client, kind, key, value, invokedAt, returnedAt]) => ({ client, kind, key, value, invokedAt, returnedAt }));

describe('checkLinearizable (Wing & Gong / Lowe, porcupine memoization, per-key)', () => {
  it('accepts a sequential history and an empty one', () => {
    expect(checkLinearizable([])).toMatchObject({ ok: true, gaveUp: false });
    const result = checkLinearizable(
      history([
        ['a', 'get', 'x', null, 0, 1],
        ['a', 'set', 'x', '1', 2, 3],
        ['b', 'get', 'x', '1', 4, 5],
        ['b', 'delete', 'x', null, 6, 7],
        ['a', 'get', 'x', null, 8, 9],
      ]),
    );
    expect(result).toMatchObject({ ok: true, gaveUp: false });
  });

  it('refuses a stale read: a get that returns an old value after a newer set completed', () => {
    const result = checkLinearizable(
      history([
        ['a', 'set', 'x', '1', 0, 1],
        ['a', 'set', 'x', '2', 2, 3],
        ['b', 'get', 'x', '1', 4, 5],
      ]),
    );
    expect(result).toMatchObject({ ok: false, key: 'x', gaveUp: false });
    expect(result.explanation).toContain('b: get "x" read "1" [4, 5]');
  });

  it('accepts either order for operations that overlap, including at a shared instant', () => {
    for (const read of ['1', '2']) {
      const rows: Row[] = [
        ['a', 'set', 'x', '1', 0, 10],
        ['b', 'set', 'x', '2', 0, 10],
        ['c', 'get', 'x', read, 10, 12],
      ];
      expect(checkLinearizable(history(rows)).ok, `read ${read}`).toBe(true);
    }
  });

  it('refuses two reads that see two concurrent writes in opposite orders (no single order exists)', () => {
    const result = checkLinearizable(
      history([
        ['a', 'set', 'x', '1', 0, 10],
        ['b', 'set', 'x', '2', 0, 10],
        ['c', 'get', 'x', '1', 11, 12],
        ['d', 'get', 'x', '2', 13, 14],
        ['c', 'get', 'x', '1', 15, 16],
      ]),
    );
    expect(result.ok).toBe(false);
  });

  it('treats an indeterminate write as possibly applied at any later time, or never (as Jepsen does)', () => {
    const unknownWrite: Row = ['a', 'set', 'x', '1', 0, null];
    // Seen much later: fine, it took effect late.
    expect(checkLinearizable(history([unknownWrite, ['b', 'get', 'x', '1', 100, 101]])).ok).toBe(true);
    // Never seen: fine, it never took effect.
    expect(checkLinearizable(history([unknownWrite, ['b', 'get', 'x', null, 100, 101]])).ok).toBe(true);
    // But once seen it cannot be unseen without another write.
    expect(
      checkLinearizable(history([unknownWrite, ['b', 'get', 'x', '1', 100, 101], ['b', 'get', 'x', null, 102, 103]])).ok,
    ).toBe(false);
    // It cannot take effect before it was invoked.
    expect(checkLinearizable(history([['b', 'get', 'x', '1', 0, 1], ['a', 'set', 'x', '1', 2, null]])).ok).toBe(false);
    // An indeterminate read constrains nothing.
    expect(checkLinearizable(history([['a', 'set', 'x', '1', 0, 1], ['b', 'get', 'x', '7', 2, null]])).ok).toBe(true);
  });

  it('stays fast with many timed-out writes nobody saw (left out), and still uses those that were seen', () => {
    const rows: Row[] = [];
    for (let i = 0; i < 200; i++) rows.push([`w${i}`, 'set', 'x', `lost${i}`, i, null]);
    rows.push(['a', 'set', 'x', 'kept', 300, 301], ['b', 'get', 'x', 'kept', 302, 303]);
    expect(checkLinearizable(history(rows), { stepsMax: 10_000 })).toMatchObject({ ok: true, gaveUp: false });
    // One that was seen counts: reading it after 'kept' returned needs it to take effect after 'kept'.
    rows.push(['b', 'get', 'x', 'lost7', 304, 305], ['b', 'get', 'x', 'kept', 306, 307]);
    expect(checkLinearizable(history(rows), { stepsMax: 10_000 })).toMatchObject({ ok: false, gaveUp: false });
  });

  it('checks each key on its own: a violation on one key is found among many linearizable ones', () => {
    const rows: Row[] = [];
    for (let k = 0; k < 50; k++) {
      rows.push([`c${k}`, 'set', `k${k}`, 'v', k * 10, k * 10 + 5], [`d${k}`, 'get', `k${k}`, 'v', k * 10 + 6, k * 10 + 7]);
    }
    expect(checkLinearizable(history(rows)).ok).toBe(true);
    rows.push(['z', 'get', 'k7', null, 1000, 1001]);
    expect(checkLinearizable(history(rows))).toMatchObject({ ok: false, key: 'k7' });
  });

  it('searches a wide concurrent history without blowing up (memoization), and gives up honestly at its step budget', () => {
    // 12 overlapping writes then reads of one of them: 12! orders without memoization.
    const rows: Row[] = [];
    for (let i = 0; i < 12; i++) rows.push([`w${i}`, 'set', 'x', String(i), 0, 100]);
    rows.push(['r', 'get', 'x', '5', 101, 102], ['r', 'get', 'x', '5', 103, 104]);
    const result = checkLinearizable(history(rows));
    expect(result).toMatchObject({ ok: true, gaveUp: false });
    expect(result.steps).toBeLessThan(1_000_000);
    expect(checkLinearizable(history(rows), { stepsMax: 3 })).toMatchObject({ ok: true, gaveUp: true, steps: 3 });
  });

  it('refutes a wide history by visiting each (linearized set, value) once: 2^10 × 11 states, not 10! orders', () => {
    const rows: Row[] = [];
    for (let i = 0; i < 10; i++) rows.push([`w${i}`, 'set', 'x', String(i), 0, 100]);
    // After every write returned the value is fixed: it cannot read 5 and then 3.
    rows.push(['r', 'get', 'x', '5', 101, 102], ['r', 'get', 'x', '3', 103, 104]);
    const result = checkLinearizable(history(rows), { stepsMax: 200_000 });
    expect(result).toMatchObject({ ok: false, gaveUp: false });
  });

  it('refuses malformed input with a RangeError that says what is wrong', () => {
    expect(() => checkLinearizable(history([['a', 'set', 'x', null, 0, 1]]))).toThrow(RangeError);
    expect(() => checkLinearizable(history([['a', 'get', 'x', null, 5, 1]]))).toThrow(/before invokedAt/);
    expect(() => checkLinearizable([{ client: 'a', kind: 'put' as 'set', key: 'x', value: '1', invokedAt: 0, returnedAt: 1 }])).toThrow(/unknown kind/);
    expect(() => checkLinearizable([], { stepsMax: 0 })).toThrow(/stepsMax/);
  });
});
