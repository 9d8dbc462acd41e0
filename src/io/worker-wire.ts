import type { RaftMessage } from '../protocol/messages.ts';
import { kindsByCode, packEntries, type PackedEntries } from '../protocol/packed-entries.ts';
import type { Entry } from '../protocol/types.ts';
import { commandBytesMax, entriesPerMessageMax } from '../protocol/validate.ts';

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
