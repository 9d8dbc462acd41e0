import type { StateMachine } from '../host/state-machine-host.ts';
import type { Entry } from '../protocol/types.ts';

/**
 * The simulator's state machine: how many entries it applied and a running digest of them
 * (FNV-1a over each entry's index, term, kind and command). Its snapshot is those two numbers,
 * so the invariant checker can tell whether a snapshot at index i is exactly entries 1..i applied
 * (State Machine Safety across snapshots) by keeping the same digest over the committed entries.
 */
export class DigestStateMachine implements StateMachine {
  applied = 0;
  digest = digestSeed;

  apply(entry: Entry): unknown {
    this.applied++;
    this.digest = digestAfter(this.digest, entry);
    return this.applied;
  }

  snapshot(): Uint8Array {
    return encodeDigestSnapshot(this.applied, this.digest);
  }

  restore(bytes: Uint8Array): void {
    const decoded = decodeDigestSnapshot(bytes);
    if (decoded === null) throw new TypeError(`not a digest snapshot: ${bytes.byteLength} bytes`);
    this.applied = decoded.applied;
    this.digest = decoded.digest;
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

export function decodeDigestSnapshot(bytes: Uint8Array): { applied: number; digest: number } | null {
  if (bytes.byteLength !== 12) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { applied: view.getFloat64(0, true), digest: view.getUint32(8, true) };
}
