import type { StateMachine } from '../host/state-machine-host.ts';
import type { Entry } from '../protocol/types.ts';

/**
 * The simulator's state machine: how many entries it applied and a running digest of them
 * (FNV-1a over each entry's index, term, kind and command), and the registers the simulated
 * key-value clients write. Its snapshot is those two numbers (and the registers), so the
 * invariant checker can tell whether a snapshot at index i is exactly entries 1..i applied (State
 * Machine Safety across snapshots) by keeping the same digest over the committed entries.
 */
export class DigestStateMachine implements StateMachine {
  applied = 0;
  digest = digestSeed;
  /** The simulated key-value clients' registers: commands `{"op":"set"|"get","key":K,"value":V}` (JSON) act on them. */
  #registers = new Map<string, string>();

  apply(entry: Entry): unknown {
    this.applied++;
    this.digest = digestAfter(this.digest, entry);
    if (entry.kind !== 'command' || entry.command[0] !== openBrace) return this.applied;
    const op = decodeRegisterOp(entry.command);
    if (op === null) return this.applied;
    const previous = this.#registers.get(op.key) ?? null;
    if (op.op === 'set' && op.value !== undefined) this.#registers.set(op.key, op.value);
    return previous;
  }

  /** A read (ReadIndex or lease): a get of one register, `{"op":"get","key":K}` → its value or null. */
  query(bytes: Uint8Array): unknown {
    const op = decodeRegisterOp(bytes);
    if (op === null || op.op !== 'get') return { error: 'a query is {"op":"get","key":K}' };
    return this.#registers.get(op.key) ?? null;
  }

  /** The digest's 12 bytes, then (when any register is set) the registers as JSON. */
  snapshot(): Uint8Array {
    const digest = encodeDigestSnapshot(this.applied, this.digest);
    if (this.#registers.size === 0) return digest;
    const registers = new TextEncoder().encode(JSON.stringify([...this.#registers]));
    const bytes = new Uint8Array(digest.byteLength + registers.byteLength);
    bytes.set(digest);
    bytes.set(registers, digest.byteLength);
    return bytes;
  }

  restore(bytes: Uint8Array): void {
    const decoded = decodeDigestSnapshot(bytes);
    if (decoded === null) throw new TypeError(`not a digest snapshot: ${bytes.byteLength} bytes`);
    this.applied = decoded.applied;
    this.digest = decoded.digest;
    const rest = bytes.subarray(digestSnapshotBytes);
    this.#registers = new Map(rest.byteLength === 0 ? [] : (JSON.parse(new TextDecoder().decode(rest)) as [string, string][]));
  }
}

const openBrace = 0x7b;
const digestSnapshotBytes = 12;

/** A register command or query of the simulator's key-value clients, or null for anything else. */
export function decodeRegisterOp(bytes: Uint8Array): { op: 'set' | 'get'; key: string; value?: string } | null {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { op?: unknown; key?: unknown; value?: unknown };
    if ((parsed.op !== 'set' && parsed.op !== 'get') || typeof parsed.key !== 'string') return null;
    return { op: parsed.op, key: parsed.key, ...(typeof parsed.value === 'string' ? { value: parsed.value } : {}) };
  } catch {
    return null;
  }
}

/** The digest of no entries. */
export const digestSeed = 0x811c9dc5;

/** The digest after applying `entry` to a state of digest `digest`. */
export function digestAfter(digest: number, entry: Entry): number {
  let h = mix(digest, entry.index);
  h = mix(h, entry.term);
  h = mix(h, entry.kind === 'command' ? 0 : entry.kind === 'noop' ? 1 : 2);
  for (let i = 0; i < entry.command.length; i++) h = Math.imul(h ^ entry.command[i], 0x01000193) >>> 0;
  return h;
}

function mix(h: number, value: number): number {
  let out = h;
  for (let shift = 0; shift < 48; shift += 8) out = Math.imul(out ^ (Math.floor(value / 2 ** shift) & 0xff), 0x01000193) >>> 0;
  return out;
}

export function encodeDigestSnapshot(applied: number, digest: number): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, applied, true);
  view.setUint32(8, digest, true);
  return bytes;
}

/** The digest part of a DigestStateMachine snapshot (its first 12 bytes). */
export function decodeDigestSnapshot(bytes: Uint8Array): { applied: number; digest: number } | null {
  if (bytes.byteLength < digestSnapshotBytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { applied: view.getFloat64(0, true), digest: view.getUint32(8, true) };
}
