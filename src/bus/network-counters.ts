import { raftMessageTypes } from '../protocol/messages.ts';

/**
 * What the network carried, counted by each sender in memory it shares with the controller: one
 * SharedArrayBuffer per server incarnation, written only by that server's worker (plain stores,
 * no locks: one writer), read by the main thread whenever stats() is asked. O(1) per message, and
 * no message to the main thread for it.
 */

/** Messages and bytes the network was handed, in total and per message type. */
export interface NetworkStats {
  readonly messages: number;
  readonly bytes: number;
  readonly byType: Record<string, { messages: number; bytes: number }>;
  /** Messages the network model lost (links down, random loss) or that found their receiver gone. */
  readonly dropped: number;
  /** Messages refused at a receiver: not a message, sent in another server's name, malformed. */
  readonly malformed: number;
}

/** The types counted one by one; anything else counts as 'other'. */
const countedTypes: readonly string[] = [...raftMessageTypes, 'other'];
const slotOfType = new Map(countedTypes.map((type, i) => [type, i]));
const droppedSlot = 2 * countedTypes.length;
const malformedSlot = droppedSlot + 1;
const slots = malformedSlot + 1;

/** A fresh block of counters for one server incarnation. */
export function newNetworkCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(slots * Float64Array.BYTES_PER_ELEMENT);
}

/** The sender's side: counts into its shared block. */
export class NetworkCounter {
  readonly #values: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#values = new Float64Array(buffer);
  }

  sent(type: string, bytes: number): void {
    const slot = 2 * (slotOfType.get(type) ?? countedTypes.length - 1);
    this.#values[slot]++;
    this.#values[slot + 1] += bytes;
  }

  dropped(count = 1): void {
    this.#values[droppedSlot] += count;
  }

  malformed(count = 1): void {
    this.#values[malformedSlot] += count;
  }
}

/** The controller's side: the sum of every block given (live incarnations and retired ones alike). */
export function sumNetworkCounters(buffers: Iterable<SharedArrayBuffer>): NetworkStats {
  const total = new Float64Array(slots);
  for (const buffer of buffers) {
    const values = new Float64Array(buffer);
    for (let i = 0; i < slots; i++) total[i] += values[i];
  }
  const byType: Record<string, { messages: number; bytes: number }> = {};
  let messages = 0;
  let bytes = 0;
  countedTypes.forEach((type, i) => {
    const count = total[2 * i];
    if (count === 0) return;
    byType[type] = { messages: count, bytes: total[2 * i + 1] };
    messages += count;
    bytes += total[2 * i + 1];
  });
  return { messages, bytes, byType, dropped: total[droppedSlot], malformed: total[malformedSlot] };
}

/** A rough wire size: the fixed fields of a message plus, per entry, its header and command bytes (entries packed or not), plus a snapshot chunk's bytes. */
const messageOverheadBytes = 48;
const entryOverheadBytes = 16;

export function approximateBytes(message: object): number {
  const entries = (message as { entries?: unknown }).entries;
  let bytes = messageOverheadBytes;
  const data = (message as { data?: unknown }).data;
  if (data instanceof Uint8Array) bytes += data.byteLength;
  const packed = entries as { count?: unknown; bytes?: unknown } | undefined;
  if (typeof packed === 'object' && packed !== null && typeof packed.count === 'number' && packed.bytes instanceof Uint8Array) {
    bytes += packed.count * entryOverheadBytes + packed.bytes.byteLength;
  } else if (Array.isArray(entries)) {
    for (const entry of entries) {
      const command = (entry as { command?: unknown } | null)?.command;
      bytes += entryOverheadBytes + (command instanceof Uint8Array ? command.byteLength : 0);
    }
  }
  return bytes;
}
