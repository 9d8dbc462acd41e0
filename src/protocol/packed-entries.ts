import type { Entry, EntryKind } from './types.ts';

/**
 * A run of entries (or of commands) packed into a few typed arrays and one byte buffer: how
 * entries cross a thread (structured clone copies each Uint8Array's whole ArrayBuffer separately,
 * ~4 µs apiece here, so a run travels as a few memcpys whatever its length) and how a RaftLog
 * keeps its old entries (two objects per entry less for the garbage collector to trace).
 */
export interface PackedEntries {
  readonly count: number;
  readonly terms: Float64Array;
  readonly kinds: Uint8Array;
  /** ends[i] is where command i ends in `bytes`; command i starts at ends[i - 1] (0 for i = 0). */
  readonly ends: Uint32Array;
  readonly bytes: Uint8Array;
}

/** An entry's kind as one byte, and back (the write-ahead log's records use the same codes). */
export const kindsByCode: readonly EntryKind[] = ['command', 'noop', 'config'];
export const codesByKind: Readonly<Record<EntryKind, number>> = { command: 0, noop: 1, config: 2 };

/** Packs commands into one buffer (terms and kinds left 0: a proposal has neither yet). */
export function packCommands(commands: readonly Uint8Array[]): PackedEntries {
  return packBytes(commands.length, (i) => commands[i]);
}

/** Packs entries: their commands into one buffer, their terms and kinds into typed arrays; one pass each, no temporary arrays. */
export function packEntries(entries: readonly Entry[]): PackedEntries {
  const packed = packBytes(entries.length, (i) => entries[i].command);
  for (let i = 0; i < entries.length; i++) {
    packed.terms[i] = entries[i].term;
    packed.kinds[i] = codesByKind[entries[i].kind];
  }
  return packed;
}

/** Command i of `packed` as a view into its buffer (no copy). */
export function commandAt(packed: PackedEntries, i: number): Uint8Array {
  return packed.bytes.subarray(i === 0 ? 0 : packed.ends[i - 1], packed.ends[i]);
}

function packBytes(count: number, commandOf: (i: number) => Uint8Array): PackedEntries {
  const ends = new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += commandOf(i).byteLength;
    ends[i] = total;
  }
  const bytes = new Uint8Array(total);
  for (let i = 0; i < count; i++) bytes.set(commandOf(i), i === 0 ? 0 : ends[i - 1]);
  return { count, terms: new Float64Array(count), kinds: new Uint8Array(count), ends, bytes };
}
