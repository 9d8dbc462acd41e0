import { describe, expect, it } from 'vitest';
import { decodeFields, encodePutRequest, encodeVarint, grpcFrame, grpcMessages } from '../../bench/etcd-grpc.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('etcd gRPC encoding', () => {
  it('encodes PutRequest as key = field 1 and value = field 2, length-delimited', () => {
    expect([...encodePutRequest(bytes('a'), bytes('bc'))]).toEqual([0x0a, 1, 0x61, 0x12, 2, 0x62, 0x63]);
  });

  it('writes lengths of 128 and more as multi-byte varints', () => {
    const request = encodePutRequest(bytes('k'), new Uint8Array(1024));
    expect([...request.subarray(0, 6)]).toEqual([0x0a, 1, 0x6b, 0x12, 0x80, 0x08]);
    expect(request.byteLength).toBe(6 + 1024);
    const out: number[] = [];
    encodeVarint(300, out);
    expect(out).toEqual([0xac, 0x02]);
  });

  it('frames a message with flag 0 and a 4-byte big-endian length', () => {
    expect([...grpcFrame(new Uint8Array([7, 8, 9]))]).toEqual([0, 0, 0, 0, 3, 7, 8, 9]);
    expect(grpcMessages(new Uint8Array([0, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0]))).toEqual([new Uint8Array([5]), new Uint8Array(0)]);
    expect(() => grpcMessages(new Uint8Array([0, 0, 0, 0, 2, 5]))).toThrow(/truncated/);
  });

  it('decodes a Status-like response: uint64 ids beyond 2^53 and a nested header', () => {
    const out: number[] = [];
    // header (field 1) { member_id (field 2) = 0x8e9e05c52164694d }, leader (field 4) = same id.
    const id = 0x8e9e05c52164694dn;
    const varint = (value: bigint) => {
      const v: number[] = [];
      let rest = value;
      while (rest >= 0x80n) {
        v.push(Number(rest & 0x7fn) | 0x80);
        rest >>= 7n;
      }
      v.push(Number(rest));
      return v;
    };
    const header = [0x10, ...varint(id)];
    out.push(0x0a, header.length, ...header, 0x20, ...varint(id));
    const fields = decodeFields(new Uint8Array(out));
    expect(fields.get(4)).toBe(id);
    expect(decodeFields(fields.get(1) as Uint8Array).get(2)).toBe(id);
  });
});
