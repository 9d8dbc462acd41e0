import type { StateMachine } from '../host/state-machine-host.ts';
import type { Entry } from '../protocol/types.ts';

/**
 * The simulator's state machine: how many entries it applied and a running digest of them
 * (FNV-1a over each entry's index, term, kind and command), around an optional inner machine
 * that gets every entry next (the simulator's: the session layer over the key-value clients'
 * registers). Its snapshot is those two numbers (12 bytes), then the inner machine's snapshot, so
 * the invariant checker can tell whether a snapshot at index i is exactly entries 1..i applied
 * (State Machine Safety across snapshots) by keeping the same digest over the committed entries.
 */
export class DigestStateMachine implements StateMachine {
  applied = 0;
  digest = digestSeed;

  constructor(private readonly inner: StateMachine | null = null) {}

  apply(entry: Entry): unknown {
    this.applied++;
    this.digest = digestAfter(this.digest, entry);
    return this.inner === null ? this.applied : this.inner.apply(entry);
  }

  query(bytes: Uint8Array): unknown {
    return this.inner?.query?.(bytes);
  }

  snapshot(): Uint8Array {
    const digest = encodeDigestSnapshot(this.applied, this.digest);
    const inner = this.inner?.snapshot?.();
    if (inner === undefined) return digest;
    const bytes = new Uint8Array(digestSnapshotBytes + inner.byteLength);
    bytes.set(digest);
    bytes.set(inner, digestSnapshotBytes);
    return bytes;
  }

  restore(bytes: Uint8Array): void {
    const decoded = decodeDigestSnapshot(bytes);
    if (decoded === null) throw new TypeError(`not a digest snapshot: ${bytes.byteLength} bytes`);
    this.applied = decoded.applied;
    this.digest = decoded.digest;
    this.inner?.restore?.(bytes.subarray(digestSnapshotBytes));
  }
}

/**
 * The simulated key-value clients' registers: `{"op":"set"|"get","key":K,"value":V}` (JSON);
 * anything else changes nothing. Every value the clients write is unique, so a value set twice is
 * a command applied twice: `onAppliedTwice` hears it (exactly once, §6.3).
 */
export class RegisterMachine implements StateMachine {
  #registers = new Map<string, string>();
  #written = new Set<string>();

  constructor(private readonly onAppliedTwice: (value: string) => void = () => {}) {}

  apply(entry: Entry): unknown {
    if (entry.kind !== 'command') return null;
    const op = decodeRegisterOp(entry.command);
    if (op === null) return null;
    const previous = this.#registers.get(op.key) ?? null;
    if (op.op === 'set' && op.value !== undefined) {
      if (this.#written.has(op.value)) this.onAppliedTwice(op.value);
      this.#written.add(op.value);
      this.#registers.set(op.key, op.value);
    }
    return previous;
  }

  /** A read (ReadIndex or lease): `{"op":"get","key":K}` → its value or null. */
  query(bytes: Uint8Array): unknown {
    const op = decodeRegisterOp(bytes);
    if (op === null || op.op !== 'get') return { error: 'a query is {"op":"get","key":K}' };
    return this.#registers.get(op.key) ?? null;
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([[...this.#registers], [...this.#written]]));
  }

  restore(bytes: Uint8Array): void {
    const [registers, written] = JSON.parse(new TextDecoder().decode(bytes)) as [[string, string][], string[]];
    this.#registers = new Map(registers);
    this.#written = new Set(written);
  }
}

const digestSnapshotBytes = 12;

/** A register command or query of the simulator's key-value clients, or null for anything else. */
export function decodeRegisterOp(bytes: Uint8Array): { op: 'set' | 'get'; key: string; value?: string } | null {
  if (bytes[0] !== 0x7b) return null;
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
  const bytes = new Uint8Array(digestSnapshotBytes);
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
