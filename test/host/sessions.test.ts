import { describe, expect, it } from 'vitest';
import { KeyValueStore, encodeKeyValueCommand } from '../../src/host/key-value-store.ts';
import { serialize } from 'node:v8';
import { SessionStateMachine, encodeSessionCommand, encodeSessionRegister, splitSessionSnapshot } from '../../src/host/sessions.ts';
import type { Entry } from '../../src/protocol/types.ts';

/** A log of entries applied to one SessionStateMachine, index by index. */
class Log {
  index = 0;
  constructor(readonly machine: SessionStateMachine) {}
  apply(command: Uint8Array): unknown {
    this.index++;
    return this.machine.apply({ index: this.index, term: 1, kind: 'command', command } satisfies Entry);
  }
  /** Skips to just before `index` with no-ops. */
  idleUntil(index: number): void {
    while (this.index + 1 < index) {
      this.index++;
      this.machine.apply({ index: this.index, term: 1, kind: 'noop', command: new Uint8Array(0) });
    }
  }
}

const set = (key: string, value: string) => encodeKeyValueCommand({ op: 'set', key, value });
const get = (key: string) => encodeKeyValueCommand({ op: 'get', key });

describe('client sessions in the state-machine layer (dissertation §6.3)', () => {
  it('applies a command once: a retry with the same sequence number gets the cached result', () => {
    const log = new Log(new SessionStateMachine(new KeyValueStore(), 1000));
    const { session } = log.apply(encodeSessionRegister()) as { session: number };
    expect(session).toBe(1);
    expect(log.apply(encodeSessionCommand(session, 1, 0, set('k', 'a')))).toEqual({ ok: true, previous: null });
    expect(log.apply(encodeSessionCommand(session, 2, 1, set('k', 'b')))).toEqual({ ok: true, previous: 'a' });
    // The retry of 2 (its answer was lost): the same answer, and k stays b rather than being set again.
    expect(log.apply(encodeSessionCommand(session, 2, 1, set('k', 'b')))).toEqual({ ok: true, previous: 'a' });
    expect(log.machine.query?.(get('k'))).toEqual({ ok: true, value: 'b' });
    // A plain command passes straight through.
    expect(log.apply(set('k', 'c'))).toEqual({ ok: true, previous: 'b' });
  });

  it('refuses an unknown session and a sequence number at or below what the client confirmed, applying nothing', () => {
    const log = new Log(new SessionStateMachine(new KeyValueStore(), 1000));
    expect(log.apply(encodeSessionCommand(77, 1, 0, set('k', 'x')))).toMatchObject({ sessionError: 'unknownSession' });
    const { session } = log.apply(encodeSessionRegister()) as { session: number };
    log.apply(encodeSessionCommand(session, 1, 0, set('k', 'a')));
    log.apply(encodeSessionCommand(session, 2, 1, set('k', 'b')));
    expect(log.apply(encodeSessionCommand(session, 1, 1, set('k', 'again')))).toMatchObject({ sessionError: 'seqBehind' });
    expect(log.machine.query?.(get('k'))).toEqual({ ok: true, value: 'b' });
  });

  it('expires a session idle for more than expiryEntries, by log index alone', () => {
    const log = new Log(new SessionStateMachine(new KeyValueStore(), 10));
    const { session } = log.apply(encodeSessionRegister()) as { session: number };
    log.idleUntil(11);
    expect(log.apply(encodeSessionCommand(session, 1, 0, set('k', 'a')))).toEqual({ ok: true, previous: null });
    log.idleUntil(11 + 11);
    expect(log.apply(encodeSessionCommand(session, 2, 1, set('k', 'b')))).toMatchObject({ sessionError: 'unknownSession' });
  });

  it('keeps the session table in the snapshot: a restored server still answers a retry from its cache', () => {
    const first = new Log(new SessionStateMachine(new KeyValueStore(), 1000));
    const { session } = first.apply(encodeSessionRegister()) as { session: number };
    first.apply(encodeSessionCommand(session, 1, 0, set('k', 'a')));
    const snapshot = first.machine.snapshot?.();
    expect(snapshot).toBeInstanceOf(Uint8Array);
    const restored = new Log(new SessionStateMachine(new KeyValueStore(), 1000));
    restored.machine.restore?.(snapshot as Uint8Array);
    restored.index = first.index;
    expect(restored.apply(encodeSessionCommand(session, 1, 0, set('k', 'a')))).toEqual({ ok: true, previous: null });
    expect(restored.machine.sessions).toBe(1);
    // With no session, the snapshot is exactly the user's.
    const plain = new SessionStateMachine(new KeyValueStore(), 1000);
    expect(plain.snapshot?.()).toEqual(new KeyValueStore().snapshot());
  });

  it('gives the same snapshot bytes for the same table, however V8 holds its numbers (a restored table snapshots identically)', () => {
    const first = new Log(new SessionStateMachine(new KeyValueStore(), 1000));
    const { session } = first.apply(encodeSessionRegister()) as { session: number };
    for (let seq = 1; seq <= 5; seq++) first.apply(encodeSessionCommand(session, seq, seq - 2 > 0 ? seq - 2 : 0, set(`k${seq}`, 'v')));
    const snapshot = first.machine.snapshot?.() as Uint8Array;
    const restored = new SessionStateMachine(new KeyValueStore(), 1000);
    restored.restore?.(snapshot);
    expect(restored.snapshot?.()).toEqual(snapshot);
    // Fixed width: one row (3 numbers, a count) and its cached seqs, 8 bytes each, whatever their values.
    const { table } = splitSessionSnapshot(snapshot);
    const cached = 2; // seqs 4 and 5: 1..3 were confirmed (ackedThrough 3)
    expect((table as Uint8Array).byteLength).toBe(4 + 3 * 8 + 4 + cached * 8 + serialize([{ ok: true, previous: null }, { ok: true, previous: null }]).byteLength);
  });

  it('still restores a version-1 snapshot (the whole table v8-serialized)', () => {
    const user = new KeyValueStore();
    user.apply({ index: 2, term: 1, kind: 'command', command: set('k', 'a') });
    const table = serialize([[1, 2, 0, [[1, { ok: true, previous: null }]]]]);
    const userBytes = user.snapshot();
    const bytes = new Uint8Array(8 + table.byteLength + userBytes.byteLength);
    bytes.set([0xff, 0x52, 0x43, 0x54]);
    new DataView(bytes.buffer).setUint32(4, table.byteLength, true);
    bytes.set(table, 8);
    bytes.set(userBytes, 8 + table.byteLength);
    const log = new Log(new SessionStateMachine(new KeyValueStore(), 1000));
    log.machine.restore?.(bytes);
    log.index = 2;
    expect(log.machine.sessions).toBe(1);
    expect(log.apply(encodeSessionCommand(1, 1, 0, set('k', 'again')))).toEqual({ ok: true, previous: null });
    expect(log.machine.query?.(get('k'))).toEqual({ ok: true, value: 'a' });
  });

  it('can snapshot only when the user\'s machine can, and queries only when it can', () => {
    const bare = new SessionStateMachine({ apply: () => null }, 1000);
    expect(bare.snapshot).toBeUndefined();
    expect(bare.restore).toBeUndefined();
    expect(bare.query).toBeUndefined();
  });
});
