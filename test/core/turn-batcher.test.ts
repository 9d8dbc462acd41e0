import { describe, expect, it } from 'vitest';
import { TurnBatcher } from '../../src/core/turn-batcher.ts';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('TurnBatcher: one batch per turn of the event loop', () => {
  it('hands over everything pushed in one turn as one array, at the end of that turn', async () => {
    const batches: number[][] = [];
    const batcher = new TurnBatcher<number>((items) => batches.push(items));
    batcher.push(1);
    batcher.push(2);
    expect(batches).toEqual([]);
    await nextTurn();
    batcher.push(3);
    await nextTurn();
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('hands over at once when itemsMax is reached, and the rest at the end of the turn', async () => {
    const batches: number[][] = [];
    const batcher = new TurnBatcher<number>((items) => batches.push(items), { itemsMax: 2 });
    for (let i = 1; i <= 5; i++) batcher.push(i);
    expect(batches).toEqual([[1, 2], [3, 4]]);
    await nextTurn();
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('at the microtask end, hands over before the next task runs; clear() forgets what is gathered', async () => {
    const batches: string[][] = [];
    const batcher = new TurnBatcher<string>((items) => batches.push(items), { end: 'microtask' });
    batcher.push('a');
    await Promise.resolve();
    expect(batches).toEqual([['a']]);
    batcher.push('b');
    expect(batcher.clear()).toEqual(['b']);
    await nextTurn();
    expect(batches).toEqual([['a']]);
  });
});
