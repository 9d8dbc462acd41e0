import { describe, expect, it } from 'vitest';
import { keyValueCommandOf, minimumCommandBytes } from '../../bench/raftchart-load.ts';
import { KeyValueStore } from '../../src/index.ts';

describe('benchmark commands', () => {
  it('are key-value sets of exactly the size asked for, which the default state machine accepts', () => {
    for (const bytes of [minimumCommandBytes, 100, 1024]) {
      const command = keyValueCommandOf(42, bytes);
      expect(command.byteLength).toBe(bytes);
      expect(new KeyValueStore().apply({ index: 1, term: 1, kind: 'command', command })).toEqual({ ok: true, previous: null });
    }
  });

  it('give each client its own key', () => {
    const text = (client: number) => new TextDecoder().decode(keyValueCommandOf(client, 100));
    expect(JSON.parse(text(7)).key).toBe('c00007');
    expect(JSON.parse(text(1023)).key).toBe('c01023');
  });

  it('refuse a size below the smallest set with InvalidOptions', () => {
    expect(() => keyValueCommandOf(0, minimumCommandBytes - 1)).toThrow(expect.objectContaining({ code: 'InvalidOptions' }));
  });
});
