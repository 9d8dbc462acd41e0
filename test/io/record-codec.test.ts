import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import {
  decodeFrameAt,
  decodeFrames,
  encodedBytes,
  encodeRecords,
  findValidFrameAfter,
  frameHeaderBytes,
  framePayloadBytesMax,
  type WalRecord,
} from '../../src/io/record-codec.ts';
import { crc32c } from '../../src/core/crc32c.ts';
import { comparableRecords, entries, hardState, recordArbitrary } from './records.ts';

const header: WalRecord = { type: 'segmentHeader', sequence: 7, previousSegmentValidBytes: 123_456_789_012, baseIndex: 0, baseTerm: 0 };

describe('record codec', () => {
  it('round-trips any list of records of every type, including empty and large commands', () => {
    fc.assert(
      fc.property(fc.array(recordArbitrary, { maxLength: 12 }), (records) => {
        const bytes = encodeRecords(records);
        const decoded = decodeFrames(bytes);

        expect(decoded.failure).toBeNull();
        expect(decoded.validEnd).toBe(bytes.length);
        expect(comparableRecords(decoded.frames.map((frame) => frame.record as LogRecord))).toEqual(comparableRecords(records));
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips a segment header with sizes beyond 32 bits', () => {
    const decoded = decodeFrames(encodeRecords([header]));

    expect(decoded.frames.map((frame) => frame.record)).toEqual([header]);
  });

  it('lays a frame out as [u32 length][u8 type][u32 CRC-32C of type + payload][payload]', () => {
    const bytes = encodeRecords([{ type: 'truncate', fromIndex: 300 }]);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const typeAndPayload = Uint8Array.of(bytes[4], ...bytes.subarray(frameHeaderBytes));

    expect(view.getUint32(0, true)).toBe(2);
    expect(bytes[4]).toBe(4);
    expect(view.getUint32(5, true)).toBe(crc32c(typeAndPayload));
    expect(Array.from(bytes.subarray(frameHeaderBytes))).toEqual([0xac, 0x02]);
  });

  it('encodes a batch into one buffer whose size encodedBytes predicts', () => {
    fc.assert(
      fc.property(fc.array(recordArbitrary, { maxLength: 12 }), (records) => {
        expect(encodeRecords(records).length).toBe(encodedBytes(records));
      }),
    );
  });

  it('stores a 100-byte command with under 20 bytes of framing', () => {
    const record: LogRecord = { type: 'entries', entries: [{ index: 1_000_000, term: 42, kind: 'command', command: new Uint8Array(100) }] };

    expect(encodeRecords([record]).length - 100).toBeLessThan(20);
  });

  it('gives decoded commands their own memory, not views of the file', () => {
    const bytes = encodeRecords([entries(1, 2)]);
    const [frame] = decodeFrames(bytes).frames;
    const command = frame.record.type === 'entries' ? frame.record.entries[0].command : new Uint8Array(0);

    expect(command.buffer).not.toBe(bytes.buffer);
    expect(command.byteOffset).toBe(0);
  });

  it('reports a frame that runs past the end as torn, at its offset', () => {
    const bytes = encodeRecords([hardState(1), entries(1, 3)]);
    const firstEnd = encodedBytes([hardState(1)]);
    const cut = bytes.subarray(0, bytes.length - 1);

    const decoded = decodeFrames(cut);

    expect(decoded.frames).toHaveLength(1);
    expect(decoded.validEnd).toBe(firstEnd);
    expect(decoded.failure).toMatchObject({ offset: firstEnd, reason: 'torn' });
  });

  it('reports a flipped payload bit as a bad checksum', () => {
    const bytes = encodeRecords([entries(1, 3)]);
    bytes[frameHeaderBytes + 5] ^= 0x10;

    expect(decodeFrames(bytes).failure).toMatchObject({ offset: 0, reason: 'badChecksum' });
  });

  it('refuses an absurd length and an unknown type without reading further', () => {
    const huge = encodeRecords([hardState(1)]);
    new DataView(huge.buffer, huge.byteOffset).setUint32(0, framePayloadBytesMax + 1, true);
    const unknown = encodeRecords([hardState(1)]);
    unknown[4] = 99;

    expect(decodeFrameAt(huge, 0, huge.length)).toMatchObject({ ok: false, failure: { reason: 'badLength' } });
    expect(decodeFrameAt(unknown, 0, unknown.length)).toMatchObject({ ok: false, failure: { reason: 'badType' } });
  });

  it('reports a payload that does not parse under a valid checksum as badPayload', () => {
    const bytes = encodeRecords([hardState(3, null)]);
    bytes[frameHeaderBytes + 1] = 7; // the hasVote flag may only be 0 or 1
    const crc = crc32c(Uint8Array.of(bytes[4], ...bytes.subarray(frameHeaderBytes)));
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(5, crc, true);

    expect(decodeFrames(bytes).failure).toMatchObject({ offset: 0, reason: 'badPayload' });
  });

  it('finds the next valid frame after a damaged one, and none after the last', () => {
    const bytes = encodeRecords([hardState(1), hardState(2), hardState(3)]);
    const frame = encodedBytes([hardState(1)]);
    bytes[3] ^= 1;

    expect(findValidFrameAfter(bytes, 0, bytes.length)).toBe(frame);
    expect(findValidFrameAfter(bytes, 2 * frame, bytes.length)).toBe(-1);
  });

  it('refuses to encode a record larger than the frame maximum with CommandTooLarge', () => {
    const record: LogRecord = { type: 'entries', entries: [{ index: 1, term: 1, kind: 'command', command: new Uint8Array(framePayloadBytesMax) }] };

    let thrown: unknown;
    try {
      encodeRecords([record]);
    } catch (error) {
      thrown = error;
    }

    expect(hasErrorCode(thrown, 'CommandTooLarge')).toBe(true);
  });

  it('asserts that the entries of one record are contiguous', () => {
    const gap: LogRecord = { type: 'entries', entries: [entries(1, 1), entries(3, 3)].flatMap((r) => (r.type === 'entries' ? r.entries : [])) };

    expect(() => encodeRecords([gap])).toThrow(/contiguous/);
  });
});

describe('snapshot headers (configuration with learners, dissertation §4.2.1)', () => {
  const snapshotHeader: WalRecord = { type: 'snapshotHeader', index: 5, term: 2, servers: ['n1', 'n2'], learners: ['n4'], dataBytes: 3, dataChecksum: 0xdeadbeef };

  it('round-trips voters and learners', () => {
    expect(decodeFrames(encodeRecords([snapshotHeader])).frames.map((frame) => frame.record)).toEqual([snapshotHeader]);
  });

  it('still reads a version 1 header, which has no learners', () => {
    const v2 = encodeRecords([{ ...snapshotHeader, learners: [] }]);
    const payload = v2.subarray(frameHeaderBytes);
    // Version 1: the same payload less the learner count (one zero byte after the servers), version byte 1.
    const learnerCountAt = 5 + 1 + 1 + 1 + 2 * 3;
    expect(payload[learnerCountAt]).toBe(0);
    const v1Payload = new Uint8Array([...payload.subarray(0, learnerCountAt), ...payload.subarray(learnerCountAt + 1)]);
    v1Payload[4] = 1;
    const frame = new Uint8Array(frameHeaderBytes + v1Payload.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, v1Payload.length, true);
    frame[4] = v2[4];
    frame.set(v1Payload, frameHeaderBytes);
    view.setUint32(5, crc32c(v1Payload, 0, v1Payload.length, crc32c(Uint8Array.of(v2[4]))), true);
    expect(decodeFrames(frame).frames.map((f) => f.record)).toEqual([{ ...snapshotHeader, learners: [] }]);
  });
});
