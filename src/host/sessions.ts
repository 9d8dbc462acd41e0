import { deserialize, serialize } from 'node:v8';
import type { Entry } from '../protocol/types.ts';
import { canSnapshot, type StateMachine } from './state-machine-host.ts';

/**
 * Client sessions, exactly once (dissertation §6.3), in the state-machine layer: the user's state
 * machine never sees them. A command may travel in a session envelope (encodeSessionCommand): a
 * client id (the log index of the entry that registered the session), a sequence number, and the
 * highest sequence number below which the client has every answer (`ackedThrough`). Applying it:
 *
 * - an unknown or expired session → `{ sessionError: 'unknownSession' }`, nothing applied;
 * - seq ≤ ackedThrough the client already confirmed → `{ sessionError: 'seqBehind' }`, nothing applied;
 * - a seq answered before → the cached result, not applied again (the retry of a command whose
 *   answer was lost, say by a leader crash, or a timeout);
 * - else the inner command is applied to the user's state machine and its result cached.
 *
 * Results at or below ackedThrough are dropped. A session expires once `expiryEntries` entries were
 * applied since its last command: at the same entry on every server, as all of this depends on the
 * log alone. The session table goes into the snapshot, in front of the user's snapshot (only when
 * a session exists, so a snapshot without sessions is exactly the user's bytes).
 */

/** A session envelope begins with these bytes; a plain command may not (LocalCluster refuses it). */
export const sessionMagic = Uint8Array.of(0xff, 0x52, 0x43, 0x53); // 0xFF 'R' 'C' 'S'
/**
 * A snapshot holding a session table begins with these bytes, then the table's length (u32 LE) and
 * the table (encodeTable: fixed-width numbers, then the cached results v8-serialized), then the
 * user's snapshot. Version 1 ('RCT', still read) v8-serialized the whole table, whose bytes depend
 * on how V8 happens to hold each number (a small integer, or a boxed double, as a Map key is):
 * the same table could give snapshots of different lengths, and the simulator's runs depended on
 * what ran before them in the process.
 */
const snapshotMagic = Uint8Array.of(0xff, 0x52, 0x43, 0x55); // 0xFF 'R' 'C' 'U'
const snapshotMagicV1 = Uint8Array.of(0xff, 0x52, 0x43, 0x54); // 0xFF 'R' 'C' 'T'
const registerOp = 1;
const commandOp = 2;
const headerBytes = sessionMagic.byteLength + 1 + 3 * 8;
/** How often (in applied entries) expired sessions are swept. */
const expirySweepEvery = 1024;

export type SessionError = 'unknownSession' | 'seqBehind';

/** What a session command gives instead of its result when it cannot be applied. */
export interface SessionErrorResult {
  readonly sessionError: SessionError;
  readonly message: string;
}

export function isSessionError(result: unknown): result is SessionErrorResult {
  return typeof result === 'object' && result !== null && typeof (result as { sessionError?: unknown }).sessionError === 'string';
}

/** What registering a session gives: its id, the index of the registering entry. */
export interface SessionRegistered {
  readonly session: number;
}

/** True when `bytes` begin with the session magic: a session envelope (or a command that must be refused as one). */
export function hasSessionMagic(bytes: Uint8Array): boolean {
  return bytes.byteLength >= sessionMagic.byteLength && sessionMagic.every((b, i) => bytes[i] === b);
}

/** The command that opens a session: its result is `{ session: id }`. */
export function encodeSessionRegister(): Uint8Array {
  return envelope(registerOp, 0, 0, 0, new Uint8Array(0));
}

/** `command` within session `session` as number `seq`, telling that every answer up to `ackedThrough` arrived. */
export function encodeSessionCommand(session: number, seq: number, ackedThrough: number, command: Uint8Array): Uint8Array {
  return envelope(commandOp, session, seq, ackedThrough, command);
}

function envelope(op: number, session: number, seq: number, ackedThrough: number, inner: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(headerBytes + inner.byteLength);
  bytes.set(sessionMagic);
  const view = new DataView(bytes.buffer);
  view.setUint8(4, op);
  view.setFloat64(5, session, true);
  view.setFloat64(13, seq, true);
  view.setFloat64(21, ackedThrough, true);
  bytes.set(inner, headerBytes);
  return bytes;
}

interface Decoded {
  readonly op: number;
  readonly session: number;
  readonly seq: number;
  readonly ackedThrough: number;
  readonly inner: Uint8Array;
}

function decode(bytes: Uint8Array): Decoded | null {
  if (bytes.byteLength < headerBytes || !hasSessionMagic(bytes)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const op = view.getUint8(4);
  const session = view.getFloat64(5, true);
  const seq = view.getFloat64(13, true);
  const ackedThrough = view.getFloat64(21, true);
  if ((op !== registerOp && op !== commandOp) || ![session, seq, ackedThrough].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  return { op, session, seq, ackedThrough, inner: bytes.subarray(headerBytes) };
}

/** One session's row: its last command's index, what it confirmed, and the answers it may still ask for again. */
interface SessionRow {
  lastIndex: number;
  ackedThrough: number;
  readonly results: Map<number, unknown>;
}

/** The session table as a snapshot holds it. */
type TableImage = [session: number, lastIndex: number, ackedThrough: number, results: [number, unknown][]][];

/** A snapshot's two parts: the session table's bytes (null: none) and the user's state machine's snapshot. */
export function splitSessionSnapshot(bytes: Uint8Array): { table: Uint8Array | null; user: Uint8Array; version: 1 | 2 } {
  const starts = (magic: Uint8Array) => bytes.byteLength >= magic.byteLength + 4 && magic.every((b, i) => bytes[i] === b);
  const version = starts(snapshotMagic) ? 2 : starts(snapshotMagicV1) ? 1 : null;
  if (version === null) return { table: null, user: bytes, version: 2 };
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(snapshotMagic.byteLength, true);
  const start = snapshotMagic.byteLength + 4;
  return { table: bytes.subarray(start, start + length), user: bytes.subarray(start + length), version };
}

/** The table as bytes that depend on its contents only: per row session, lastIndex, ackedThrough and each cached seq as float64, then every cached result, in order, v8-serialized as one array. */
function encodeTable(image: TableImage): Uint8Array {
  const cached = image.reduce((sum, row) => sum + row[3].length, 0);
  const numbers = new Uint8Array(4 + image.length * (3 * 8 + 4) + cached * 8);
  const view = new DataView(numbers.buffer);
  let p = 0;
  view.setUint32(p, image.length, true);
  p += 4;
  const results: unknown[] = [];
  for (const [session, lastIndex, ackedThrough, rowResults] of image) {
    for (const n of [session, lastIndex, ackedThrough]) {
      view.setFloat64(p, n, true);
      p += 8;
    }
    view.setUint32(p, rowResults.length, true);
    p += 4;
    for (const [seq, result] of rowResults) {
      view.setFloat64(p, seq, true);
      p += 8;
      results.push(result);
    }
  }
  const encodedResults = serialize(results);
  const bytes = new Uint8Array(numbers.byteLength + encodedResults.byteLength);
  bytes.set(numbers);
  bytes.set(encodedResults, numbers.byteLength);
  return bytes;
}

function decodeTable(bytes: Uint8Array): TableImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const rows = view.getUint32(p, true);
  p += 4;
  const shapes: { head: [number, number, number]; seqs: number[] }[] = [];
  for (let r = 0; r < rows; r++) {
    const head: [number, number, number] = [view.getFloat64(p, true), view.getFloat64(p + 8, true), view.getFloat64(p + 16, true)];
    p += 24;
    const count = view.getUint32(p, true);
    p += 4;
    const seqs: number[] = [];
    for (let i = 0; i < count; i++, p += 8) seqs.push(view.getFloat64(p, true));
    shapes.push({ head, seqs });
  }
  const results = deserialize(bytes.subarray(p)) as unknown[];
  let next = 0;
  return shapes.map(({ head, seqs }) => [...head, seqs.map((seq): [number, unknown] => [seq, results[next++]])]);
}

export class SessionStateMachine implements StateMachine {
  readonly #inner: StateMachine;
  readonly #expiryEntries: number;
  #table = new Map<number, SessionRow>();

  constructor(inner: StateMachine, expiryEntries: number) {
    this.#inner = inner;
    this.#expiryEntries = expiryEntries;
    // Only a machine that can snapshot gives a wrapper that can.
    if (!canSnapshot(inner)) {
      this.snapshot = undefined;
      this.restore = undefined;
    }
    if (inner.query === undefined) this.query = undefined;
  }

  /** Sessions open now (for status and tests). */
  get sessions(): number {
    return this.#table.size;
  }

  apply(entry: Entry): unknown {
    if (entry.index % expirySweepEvery === 0) this.#expire(entry.index);
    if (entry.kind !== 'command' || !hasSessionMagic(entry.command)) return this.#inner.apply(entry);
    const command = decode(entry.command);
    if (command === null) return { sessionError: 'unknownSession', message: 'a malformed session envelope: nothing was applied' } satisfies SessionErrorResult;
    if (command.op === registerOp) {
      this.#table.set(entry.index, { lastIndex: entry.index, ackedThrough: 0, results: new Map() });
      return { session: entry.index } satisfies SessionRegistered;
    }
    const row = this.#table.get(command.session);
    if (row === undefined || entry.index - row.lastIndex > this.#expiryEntries) {
      this.#table.delete(command.session);
      return {
        sessionError: 'unknownSession',
        message: `session ${command.session} is unknown or expired (none lives more than ${this.#expiryEntries} entries without a command): open a new session`,
      } satisfies SessionErrorResult;
    }
    row.lastIndex = entry.index;
    if (command.ackedThrough > row.ackedThrough) {
      row.ackedThrough = command.ackedThrough;
      // Results are kept in the order applied, which is nearly seq order: drop from the front up to
      // the first one still wanted (amortized O(1) a command; one applied out of order behind it
      // goes once the client confirms that one too).
      for (const seq of row.results.keys()) {
        if (seq > row.ackedThrough) break;
        row.results.delete(seq);
      }
    }
    if (row.results.has(command.seq)) return row.results.get(command.seq);
    if (command.seq <= row.ackedThrough) {
      return {
        sessionError: 'seqBehind',
        message: `sequence number ${command.seq} of session ${command.session} is at or below ${row.ackedThrough}, which the client confirmed it has every answer for: number each command above the last`,
      } satisfies SessionErrorResult;
    }
    const result = this.#inner.apply({ ...entry, command: command.inner });
    row.results.set(command.seq, result);
    return result;
  }

  query?(query: Uint8Array): unknown {
    return this.#inner.query?.(query);
  }

  snapshot?(): Uint8Array {
    const user = (this.#inner.snapshot as () => Uint8Array).call(this.#inner);
    if (this.#table.size === 0) return user;
    const image: TableImage = [...this.#table].map(([session, row]) => [session, row.lastIndex, row.ackedThrough, [...row.results]]);
    const table = encodeTable(image);
    const bytes = new Uint8Array(snapshotMagic.byteLength + 4 + table.byteLength + user.byteLength);
    bytes.set(snapshotMagic);
    new DataView(bytes.buffer).setUint32(snapshotMagic.byteLength, table.byteLength, true);
    bytes.set(table, snapshotMagic.byteLength + 4);
    bytes.set(user, snapshotMagic.byteLength + 4 + table.byteLength);
    return bytes;
  }

  restore?(bytes: Uint8Array): void {
    const { table, user, version } = splitSessionSnapshot(bytes);
    (this.#inner.restore as (bytes: Uint8Array) => void).call(this.#inner, user);
    const image = table === null ? [] : version === 1 ? (deserialize(table) as TableImage) : decodeTable(table);
    this.#table = new Map(image.map(([session, lastIndex, ackedThrough, results]) => [session, { lastIndex, ackedThrough, results: new Map(results) }]));
  }

  /** Drops the sessions idle for more than expiryEntries at `index` (a command of theirs would be refused anyway). */
  #expire(index: number): void {
    for (const [session, row] of this.#table) if (index - row.lastIndex > this.#expiryEntries) this.#table.delete(session);
  }
}
