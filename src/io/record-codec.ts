import { assert } from '../core/assert.ts';
import { RaftchartError } from '../protocol/errors.ts';
import { codesByKind, kindsByCode } from '../protocol/packing.ts';
import type { LogRecord } from '../protocol/records.ts';
import type { Entry } from '../protocol/types.ts';
import { crc32c } from '../core/crc32c.ts';

/**
 * Binary framing of write-ahead-log records. Every frame is
 *
 *   [u32 payload length][u8 record type][u32 CRC-32C over type + payload][payload]
 *
 * little-endian. Payloads (uv = unsigned LEB128 varint of a safe integer):
 *   segmentHeader (1): u32 magic 'RCWL', u8 version (2), uv sequence, uv previousSegmentValidBytes,
 *                      uv baseIndex, uv baseTerm (version 1 headers end before the base: 0, 0)
 *   hardState (2):     uv term, u8 hasVote, [uv byte length, UTF-8 votedFor when hasVote]
 *   entries (3):       uv firstIndex, uv count, count × (uv term, u8 kind, uv length, command bytes)
 *   truncate (4):      uv fromIndex
 *   snapshotHeader (5): u32 magic 'RCSN', u8 version (2), uv index, uv term, uv server count,
 *                      count × (uv length, UTF-8 id), uv learner count, count × (uv length, UTF-8 id),
 *                      uv dataBytes, u32 dataChecksum (CRC-32C) (version 1 has no learners: none)
 * An entries record is one contiguous run of indexes, so the index is stored once. A snapshot
 * header begins a snapshot file, the data follows it (snapshot-file.ts); it never appears in a segment.
 */

/** The header of every segment file: which segment it is, and how much of the previous one counts. */
export interface SegmentHeaderRecord {
  readonly type: 'segmentHeader';
  readonly sequence: number;
  /** Recovery reads the previous segment only up to here; bytes after it were never confirmed. */
  readonly previousSegmentValidBytes: number;
  /**
   * A segment that starts the log afresh after a snapshot (paper §7) names it here: the log it
   * holds continues the snapshot of index baseIndex and term baseTerm, and needs no earlier
   * segment. 0, 0 for a segment that continues its predecessor.
   */
  readonly baseIndex: number;
  readonly baseTerm: number;
}

/** The header of a snapshot file: what the snapshot stands for and how to check its data. */
export interface SnapshotHeaderRecord {
  readonly type: 'snapshotHeader';
  readonly index: number;
  readonly term: number;
  readonly servers: readonly string[];
  /** The learners at `index` (dissertation §4.2.1). */
  readonly learners: readonly string[];
  readonly dataBytes: number;
  readonly dataChecksum: number;
}

/** Anything a segment holds, and the header of a snapshot file. */
export type WalRecord = LogRecord | SegmentHeaderRecord | SnapshotHeaderRecord;

export const frameHeaderBytes = 9;
/** The largest payload a frame may carry; a longer length field is damage, not data. */
export const framePayloadBytesMax = 64 * 1024 * 1024;
/** The largest votedFor, in UTF-8 bytes. */
export const nodeIdBytesMax = 1024;

const segmentMagic = 0x4c574352; // 'RCWL' read as little-endian u32
const snapshotMagic = 0x4e534352; // 'RCSN'
/** Segment headers are written in version 2 (with the base); version 1 (without) still reads. */
const formatVersion = 2;
/** Snapshot headers are written in version 2 (with learners); version 1 (without) still reads. */
const snapshotFormatVersion = 2;
/** The most servers a snapshot header may name. */
const snapshotServersMax = 1024;

const typeCodes = { segmentHeader: 1, hardState: 2, entries: 3, truncate: 4, snapshotHeader: 5 } as const;

/** The CRC-32C of each one-byte type code: the checksum covers type + payload, continued from here. */
const typeCrcs: readonly number[] = Array.from({ length: 256 }, (_, type) => crc32c(Uint8Array.of(type)));

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** The exact size of the frames encodeRecords makes for `records`. */
export function encodedBytes(records: readonly WalRecord[]): number {
  let total = 0;
  for (const record of records) total += frameHeaderBytes + payloadBytes(record);
  return total;
}

/**
 * Encodes `records` as consecutive frames into one new buffer (one allocation, commands copied
 * once). Asserts the records are well formed; throws RaftchartError('CommandTooLarge') when one
 * record would exceed framePayloadBytesMax.
 */
export function encodeRecords(records: readonly WalRecord[]): Uint8Array {
  const sizes: number[] = new Array(records.length);
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const size = payloadBytes(records[i]);
    if (size > framePayloadBytesMax) {
      throw new RaftchartError(
        'CommandTooLarge',
        `a ${records[i].type} record of ${size} bytes exceeds the ${framePayloadBytesMax}-byte frame limit; ` +
          'write fewer or smaller entries per batch',
        { bytes: size, bytesMax: framePayloadBytesMax },
      );
    }
    sizes[i] = size;
    total += frameHeaderBytes + size;
  }
  // Unpooled: a small allocUnsafe buffer is a slice of a shared slab, which a caller transferring
  // `out.buffer` to another thread would take with it. Every byte is written below.
  const out = Buffer.allocUnsafeSlow(total);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let position = 0;
  for (let i = 0; i < records.length; i++) {
    const payloadStart = position + frameHeaderBytes;
    const payloadEnd = writePayload(out, view, payloadStart, records[i]);
    if (payloadEnd - payloadStart !== sizes[i]) assert(false, `payload of ${records[i].type} wrote ${payloadEnd - payloadStart} bytes, sized ${sizes[i]}`);
    view.setUint32(position, sizes[i], true);
    out[position + 4] = typeCodes[records[i].type];
    const crc = crc32c(out, payloadStart, payloadEnd, typeCrcs[out[position + 4]]);
    view.setUint32(position + 5, crc, true);
    position = payloadEnd;
  }
  return out;
}

/** Why a frame could not be read. 'torn': it runs past the end of the bytes. */
export type FrameFailureReason = 'torn' | 'badLength' | 'badType' | 'badChecksum' | 'badPayload';

export interface FrameFailure {
  readonly offset: number;
  readonly reason: FrameFailureReason;
  readonly message: string;
}

/** One decoded frame and where it sits: [offset, end). */
export interface DecodedFrame {
  readonly record: WalRecord;
  readonly offset: number;
  readonly end: number;
}

export type FrameResult = { readonly ok: true; readonly frame: DecodedFrame } | { readonly ok: false; readonly failure: FrameFailure };

/** Decodes the one frame at bytes[offset, end). Command bytes are copied: the result owns them. */
export function decodeFrameAt(bytes: Uint8Array, offset: number, end: number): FrameResult {
  const checked = checkFrameAt(bytes, offset, end);
  if (typeof checked !== 'number') return { ok: false, failure: checked };
  const payloadStart = offset + frameHeaderBytes;
  const frameEnd = payloadStart + checked;
  try {
    const record = readPayload(bytes, bytes[offset + 4], payloadStart, frameEnd);
    return { ok: true, frame: { record, offset, end: frameEnd } };
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    return { ok: false, failure: { offset, reason: 'badPayload', message: `a ${checked}-byte frame with a valid checksum holds a bad payload: ${error.message}` } };
  }
}

export interface DecodeResult {
  readonly frames: DecodedFrame[];
  /** Where decoding stopped: `end`, or the offset of the failure. */
  readonly validEnd: number;
  readonly failure: FrameFailure | null;
}

/** Decodes consecutive frames in bytes[start, end) until the end or the first bad frame. */
export function decodeFrames(bytes: Uint8Array, start = 0, end = bytes.length): DecodeResult {
  const frames: DecodedFrame[] = [];
  let offset = start;
  while (offset < end) {
    const result = decodeFrameAt(bytes, offset, end);
    if (!result.ok) return { frames, validEnd: offset, failure: result.failure };
    frames.push(result.frame);
    offset = result.frame.end;
  }
  return { frames, validEnd: offset, failure: null };
}

/**
 * The offset of the first place in (start, end) where a whole frame with a valid checksum
 * begins, or -1. Recovery uses it to tell a torn tail (nothing valid follows the bad frame)
 * from damage in the middle of a log (a valid frame follows).
 */
export function findValidFrameAfter(bytes: Uint8Array, start: number, end: number): number {
  for (let offset = start + 1; offset + frameHeaderBytes <= end; offset++) {
    if (typeof checkFrameAt(bytes, offset, end) === 'number') return offset;
  }
  return -1;
}

/** The payload length of a frame at `offset` whose length, type and checksum are good, or why not. */
function checkFrameAt(bytes: Uint8Array, offset: number, end: number): number | FrameFailure {
  const available = end - offset;
  if (available < frameHeaderBytes) {
    return { offset, reason: 'torn', message: `only ${available} bytes left, a frame header needs ${frameHeaderBytes}` };
  }
  const length = readU32(bytes, offset);
  const type = bytes[offset + 4];
  if (length > framePayloadBytesMax) {
    return { offset, reason: 'badLength', message: `payload length ${length} exceeds the ${framePayloadBytesMax}-byte maximum` };
  }
  if (type < typeCodes.segmentHeader || type > typeCodes.snapshotHeader) {
    return { offset, reason: 'badType', message: `unknown record type ${type}` };
  }
  if (frameHeaderBytes + length > available) {
    return { offset, reason: 'torn', message: `a ${length}-byte payload runs ${frameHeaderBytes + length - available} bytes past the end` };
  }
  const payloadStart = offset + frameHeaderBytes;
  const expected = readU32(bytes, offset + 5);
  const actual = crc32c(bytes, payloadStart, payloadStart + length, typeCrcs[type]);
  if (actual !== expected) {
    return { offset, reason: 'badChecksum', message: `checksum ${hex(actual)} does not match the stored ${hex(expected)}` };
  }
  return length;
}

function payloadBytes(record: WalRecord): number {
  switch (record.type) {
    case 'segmentHeader':
      return 5 + uvarintBytes(record.sequence) + uvarintBytes(record.previousSegmentValidBytes) + uvarintBytes(record.baseIndex) + uvarintBytes(record.baseTerm);
    case 'snapshotHeader': {
      let size = 5 + uvarintBytes(record.index) + uvarintBytes(record.term) + uvarintBytes(record.dataBytes) + 4;
      for (const ids of [record.servers, record.learners]) {
        assert(ids.length <= snapshotServersMax, `a snapshot names ${ids.length} servers`);
        size += uvarintBytes(ids.length);
        for (const server of ids) {
          const idBytes = Buffer.byteLength(server, 'utf8');
          assert(idBytes <= nodeIdBytesMax, `server id is ${idBytes} bytes, more than ${nodeIdBytesMax}`);
          size += uvarintBytes(idBytes) + idBytes;
        }
      }
      return size;
    }
    case 'hardState': {
      const { term, votedFor } = record.hardState;
      if (votedFor === null) return uvarintBytes(term) + 1;
      const idBytes = Buffer.byteLength(votedFor, 'utf8');
      assert(idBytes <= nodeIdBytesMax, `votedFor is ${idBytes} bytes, more than ${nodeIdBytesMax}`);
      return uvarintBytes(term) + 1 + uvarintBytes(idBytes) + idBytes;
    }
    case 'entries': {
      const { entries } = record;
      const first = entries.length === 0 ? 0 : entries[0].index;
      let size = uvarintBytes(first) + uvarintBytes(entries.length);
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i];
        // Hot path: build the assertion message only when it fails.
        if (entry.index !== first + i) assert(false, `entries in one record must be contiguous: index ${entry.index} at position ${i} after ${first}`);
        size += uvarintBytes(entry.term) + 1 + uvarintBytes(entry.command.length) + entry.command.length;
      }
      return size;
    }
    case 'truncate':
      return uvarintBytes(record.fromIndex);
  }
}

function writePayload(out: Uint8Array, view: DataView, start: number, record: WalRecord): number {
  let p = start;
  switch (record.type) {
    case 'segmentHeader':
      view.setUint32(p, segmentMagic, true);
      out[p + 4] = formatVersion;
      p = writeUvarint(out, p + 5, record.sequence);
      p = writeUvarint(out, p, record.previousSegmentValidBytes);
      p = writeUvarint(out, p, record.baseIndex);
      return writeUvarint(out, p, record.baseTerm);
    case 'snapshotHeader': {
      view.setUint32(p, snapshotMagic, true);
      out[p + 4] = snapshotFormatVersion;
      p = writeUvarint(out, p + 5, record.index);
      p = writeUvarint(out, p, record.term);
      for (const ids of [record.servers, record.learners]) {
        p = writeUvarint(out, p, ids.length);
        for (const server of ids) {
          p = writeUvarint(out, p, Buffer.byteLength(server, 'utf8'));
          p += utf8.encodeInto(server, out.subarray(p)).written;
        }
      }
      p = writeUvarint(out, p, record.dataBytes);
      view.setUint32(p, record.dataChecksum, true);
      return p + 4;
    }
    case 'hardState': {
      const { term, votedFor } = record.hardState;
      p = writeUvarint(out, p, term);
      if (votedFor === null) {
        out[p] = 0;
        return p + 1;
      }
      out[p] = 1;
      p = writeUvarint(out, p + 1, Buffer.byteLength(votedFor, 'utf8'));
      return p + utf8.encodeInto(votedFor, out.subarray(p)).written;
    }
    case 'entries': {
      const { entries } = record;
      p = writeUvarint(out, p, entries.length === 0 ? 0 : entries[0].index);
      p = writeUvarint(out, p, entries.length);
      for (const entry of entries) {
        p = writeUvarint(out, p, entry.term);
        const kind = codesByKind[entry.kind];
        if (kind === undefined) assert(false, `unknown entry kind ${entry.kind}`);
        out[p] = kind;
        p = writeUvarint(out, p + 1, entry.command.length);
        out.set(entry.command, p);
        p += entry.command.length;
      }
      return p;
    }
    case 'truncate':
      assert(record.fromIndex >= 1, `truncate fromIndex ${record.fromIndex} must be >= 1`);
      return writeUvarint(out, p, record.fromIndex);
  }
}

/** A count, then that many UTF-8 ids (a snapshot header's voters or learners). */
function readIds(reader: PayloadReader): string[] {
  const count = reader.uvarint();
  if (count > snapshotServersMax || count > reader.remaining) throw new PayloadError(`a snapshot naming ${count} servers`);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(reader.utf8(reader.uvarint()));
  return ids;
}

/** Thrown inside readPayload only: the payload does not parse although its checksum matched. */
class PayloadError extends Error {}

function readPayload(bytes: Uint8Array, type: number, start: number, end: number): WalRecord {
  const reader = new PayloadReader(bytes, start, end);
  let record: WalRecord;
  switch (type) {
    case typeCodes.segmentHeader: {
      if (reader.u32() !== segmentMagic) throw new PayloadError('not a raftchart segment header (bad magic)');
      const version = reader.u8();
      if (version !== 1 && version !== formatVersion) throw new PayloadError(`segment format version ${version}; this raftchart reads 1 and ${formatVersion}`);
      const sequence = reader.uvarint();
      const previousSegmentValidBytes = reader.uvarint();
      const baseIndex = version === 1 ? 0 : reader.uvarint();
      const baseTerm = version === 1 ? 0 : reader.uvarint();
      record = { type: 'segmentHeader', sequence, previousSegmentValidBytes, baseIndex, baseTerm };
      break;
    }
    case typeCodes.snapshotHeader: {
      if (reader.u32() !== snapshotMagic) throw new PayloadError('not a raftchart snapshot header (bad magic)');
      const version = reader.u8();
      if (version !== 1 && version !== snapshotFormatVersion) throw new PayloadError(`snapshot format version ${version}; this raftchart reads 1 and ${snapshotFormatVersion}`);
      const index = reader.uvarint();
      const term = reader.uvarint();
      const servers = readIds(reader);
      const learners = version === 1 ? [] : readIds(reader);
      record = { type: 'snapshotHeader', index, term, servers, learners, dataBytes: reader.uvarint(), dataChecksum: reader.u32() };
      break;
    }
    case typeCodes.hardState: {
      const term = reader.uvarint();
      const hasVote = reader.u8();
      if (hasVote > 1) throw new PayloadError(`hasVote flag ${hasVote}`);
      const votedFor = hasVote === 1 ? reader.utf8(reader.uvarint()) : null;
      record = { type: 'hardState', hardState: { term, votedFor } };
      break;
    }
    case typeCodes.entries:
      record = { type: 'entries', entries: readEntries(reader) };
      break;
    case typeCodes.truncate: {
      const fromIndex = reader.uvarint();
      if (fromIndex < 1) throw new PayloadError('truncate fromIndex 0');
      record = { type: 'truncate', fromIndex };
      break;
    }
    default:
      throw new PayloadError(`unknown record type ${type}`);
  }
  if (reader.position !== end) throw new PayloadError(`${end - reader.position} unread bytes after the record`);
  return record;
}

function readEntries(reader: PayloadReader): Entry[] {
  const first = reader.uvarint();
  const count = reader.uvarint();
  // Each entry takes at least 3 bytes, so a count the payload cannot hold is damage: refuse it
  // before allocating for it.
  if (count * 3 > reader.remaining) throw new PayloadError(`entry count ${count} cannot fit in ${reader.remaining} bytes`);
  if (count > 0 && first < 1) throw new PayloadError('entries start at index 0');
  const entries: Entry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const term = reader.uvarint();
    const kind = kindsByCode[reader.u8()];
    if (kind === undefined) throw new PayloadError('unknown entry kind');
    const command = reader.copy(reader.uvarint());
    entries[i] = { index: first + i, term, kind, command };
  }
  return entries;
}

class PayloadReader {
  readonly #bytes: Uint8Array;
  readonly #end: number;
  position: number;

  constructor(bytes: Uint8Array, start: number, end: number) {
    this.#bytes = bytes;
    this.position = start;
    this.#end = end;
  }

  get remaining(): number {
    return this.#end - this.position;
  }

  u8(): number {
    this.#need(1);
    return this.#bytes[this.position++];
  }

  u32(): number {
    this.#need(4);
    const value = readU32(this.#bytes, this.position);
    this.position += 4;
    return value;
  }

  /** An unsigned LEB128 of at most 8 bytes (56 bits) that must be a safe integer. */
  uvarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw new PayloadError(`varint ${value} is not a safe integer`);
        return value;
      }
      scale *= 128;
    }
    throw new PayloadError('varint longer than 8 bytes');
  }

  /** A fresh copy, so that the caller may keep (or transfer) it without pinning the whole file. */
  copy(length: number): Uint8Array {
    this.#need(length);
    const copied = new Uint8Array(this.#bytes.subarray(this.position, this.position + length));
    this.position += length;
    return copied;
  }

  /** A server id (votedFor, a snapshot's servers). */
  utf8(length: number): string {
    if (length > nodeIdBytesMax) throw new PayloadError(`a server id of ${length} bytes`);
    this.#need(length);
    try {
      return utf8Strict.decode(this.#bytes.subarray(this.position, (this.position += length)));
    } catch {
      throw new PayloadError('a server id is not valid UTF-8');
    }
  }

  #need(length: number): void {
    if (length > this.#end - this.position) throw new PayloadError(`needs ${length} bytes, ${this.#end - this.position} left`);
  }
}

function uvarintBytes(value: number): number {
  if (value >= 0 && value < 0x80 && (value | 0) === value) return 1;
  if (!(Number.isSafeInteger(value) && value >= 0)) assert(false, `${value} is not a non-negative safe integer`);
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  let bytes = 4;
  for (let rest = Math.floor(value / 0x10000000); rest > 0; rest = Math.floor(rest / 128)) bytes++;
  return bytes;
}

function writeUvarint(out: Uint8Array, position: number, value: number): number {
  let p = position;
  let rest = value;
  // Division, not shifts: values above 2^31 must stay exact.
  while (rest >= 0x80) {
    out[p++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[p++] = rest;
  return p;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
