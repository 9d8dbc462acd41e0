import type { RaftMessage } from '../protocol/messages.ts';
import type { Entry, EntryKind } from '../protocol/types.ts';
import { commandBytesMax, entriesPerMessageMax } from '../protocol/validate.ts';

/**
 * How entries and commands cross a thread. Structured clone copies each Uint8Array's whole
 * ArrayBuffer separately (~4 µs apiece here, and a subarray drags its entire buffer along), so a
 * run of entries travels packed: one byte buffer with every command and typed arrays of ends,
 * terms and kinds — a few memcpys whatever the count. The receiver's commands are views into
 * the one buffer. Unpacking checks the shape and returns null on anything malformed.
 */
export interface PackedEntries {
  readonly count: number;
  readonly terms: Float64Array;
  readonly kinds: Uint8Array;
  /** ends[i] is where command i ends in `bytes`; command i starts at ends[i - 1] (0 for i = 0). */
  readonly ends: Uint32Array;
  readonly bytes: Uint8Array;
}

/** An AppendEntries as it crosses a thread: entries packed (the index of entry i is prevLogIndex + 1 + i). */
export type WireMessage = Exclude<RaftMessage, { type: 'rpc.appendEntries' }> | (Omit<Extract<RaftMessage, { type: 'rpc.appendEntries' }>, 'entries'> & { readonly entries: PackedEntries });

const kindCodes: readonly EntryKind[] = ['command', 'noop', 'config'];

/** Packs commands (and, for entries, their terms and kinds) into one buffer. */
export function packCommands(commands: readonly Uint8Array[], terms?: readonly number[], kinds?: readonly EntryKind[]): PackedEntries {
  const count = commands.length;
  const ends = new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += commands[i].byteLength;
    ends[i] = total;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const command of commands) {
    bytes.set(command, offset);
    offset += command.byteLength;
  }
  const termArray = new Float64Array(count);
  const kindArray = new Uint8Array(count);
  if (terms !== undefined) termArray.set(terms);
  if (kinds !== undefined) for (let i = 0; i < count; i++) kindArray[i] = kindCodes.indexOf(kinds[i]);
  return { count, terms: termArray, kinds: kindArray, ends, bytes };
}

export function packEntries(entries: readonly Entry[]): PackedEntries {
  return packCommands(
    entries.map((e) => e.command),
    entries.map((e) => e.term),
    entries.map((e) => e.kind),
  );
}

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
    const kind = kindCodes[packed.kinds[i]];
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

/** A message ready to post: an AppendEntries gets its entries packed. */
export function toWire(message: RaftMessage): WireMessage {
  return message.type === 'rpc.appendEntries' ? { ...message, entries: packEntries(message.entries) } : message;
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
