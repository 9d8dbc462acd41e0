import type { RaftMessage } from './messages.ts';
import type { Entry, EntryKind } from './types.ts';
import { commandBytesMax, entriesPerMessageMax } from './validate.ts';

/**
 * Packing and unpacking, in one place: runs of entries (or commands) as a few typed arrays and one
 * byte buffer, and Raft messages as they cross a thread (AppendEntries with their entries packed,
 * InstallSnapshot chunks copied out of the snapshot). A RaftLog keeps its old entries packed the
 * same way; the WAL's kind codes are the same.
 */

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

/** An AppendEntries as it crosses a thread: entries packed (the index of entry i is prevLogIndex + 1 + i). */
export type WireMessage = Exclude<RaftMessage, { type: 'rpc.appendEntries' }> | (Omit<Extract<RaftMessage, { type: 'rpc.appendEntries' }>, 'entries'> & { readonly entries: PackedEntries });

/** The commands of a packed run as views into its buffer, or null when its shape is wrong. */
export function unpackCommands(value: unknown): Uint8Array[] | null {
  if (!isPacked(value)) return null;
  const commands: Uint8Array[] = new Array(value.count);
  let start = 0;
  for (let i = 0; i < value.count; i++) {
    const end = value.ends[i];
    if (end < start || end > value.bytes.byteLength || end - start > commandBytesMax) return null;
    commands[i] = value.bytes.subarray(start, end);
    start = end;
  }
  return commands;
}

/** The entries of a packed run starting at `firstIndex`, or null when malformed (term, kind or size). */
export function unpackEntries(value: unknown, firstIndex: number): Entry[] | null {
  const commands = unpackCommands(value);
  if (commands === null) return null;
  const packed = value as PackedEntries;
  const entries: Entry[] = new Array(commands.length);
  for (let i = 0; i < commands.length; i++) {
    const kind = kindsByCode[packed.kinds[i]];
    if (kind === undefined) return null;
    entries[i] = { index: firstIndex + i, term: packed.terms[i], kind, command: commands[i] };
  }
  return entries;
}

function isPacked(value: unknown): value is PackedEntries {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Partial<PackedEntries>;
  return (
    typeof p.count === 'number' &&
    Number.isInteger(p.count) &&
    p.count >= 0 &&
    p.count <= entriesPerMessageMax &&
    p.terms instanceof Float64Array &&
    p.kinds instanceof Uint8Array &&
    p.ends instanceof Uint32Array &&
    p.bytes instanceof Uint8Array &&
    p.terms.length === p.count &&
    p.kinds.length === p.count &&
    p.ends.length === p.count
  );
}

/**
 * A message ready to post: an AppendEntries gets its entries packed; an InstallSnapshot's chunk,
 * a view into the whole snapshot, is copied out (structured clone would copy the whole buffer).
 */
export function toWire(message: RaftMessage): WireMessage {
  if (message.type === 'rpc.appendEntries') return { ...message, entries: packEntries(message.entries) };
  if (message.type === 'rpc.installSnapshot' && message.data.byteLength !== message.data.buffer.byteLength) return { ...message, data: message.data.slice() };
  return message;
}

/**
 * toWire that remembers the last run it packed: a leader sends the same entries (the same Entry
 * objects, contiguous by index) to every follower at one nextIndex, and packing copies every
 * command, so each run is packed once. Entries are never changed in place (a conflict replaces
 * them), so the same first and last objects and length mean the same run.
 */
export function wireEncoder(): (message: RaftMessage) => WireMessage {
  let first: Entry | null = null;
  let last: Entry | null = null;
  let packed: PackedEntries | null = null;
  return (message) => {
    if (message.type !== 'rpc.appendEntries' || message.entries.length === 0) return toWire(message);
    const entries = message.entries;
    if (packed === null || packed.count !== entries.length || entries[0] !== first || entries[entries.length - 1] !== last) {
      packed = packEntries(entries);
      first = entries[0];
      last = entries[entries.length - 1];
    }
    return { ...message, entries: packed };
  };
}

/**
 * A received wire message as a RaftMessage (still to be validated), or null when its packed
 * entries are malformed. Anything that is not an AppendEntries passes through unchanged.
 */
export function fromWire(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || (value as { type?: unknown }).type !== 'rpc.appendEntries') return value;
  const message = value as { prevLogIndex?: unknown; entries?: unknown };
  if (typeof message.prevLogIndex !== 'number' || !Number.isSafeInteger(message.prevLogIndex)) return null;
  const entries = unpackEntries(message.entries, message.prevLogIndex + 1);
  return entries === null ? null : { ...value, entries };
}
