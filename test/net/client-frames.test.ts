import { describe, expect, it } from 'vitest';
import { forEachReply, packReplies, packRequests, unpackRequests } from '../../src/net/client-frames.ts';
import type { ClientReply, ClientRequest } from '../../src/net/client-protocol.ts';

describe('client frames', () => {
  it('folds a turn of proposals into one packed run and back, other requests as they are', () => {
    const requests: ClientRequest[] = [
      { id: 1, op: 'propose', command: Uint8Array.of(1, 2) },
      { id: 2, op: 'hello' },
      { id: 3, op: 'propose', command: new Uint8Array(0) },
      { id: 4, op: 'read', query: Uint8Array.of(9) },
    ];
    const packed = packRequests(requests);
    expect(packed).toHaveLength(3);
    const back = unpackRequests(structuredClone(packed), 100) as ClientRequest[];
    expect([...back].sort((a, b) => a.id - b.id)).toEqual(requests);
    // More requests than allowed, or a packed run whose parts disagree, is no list of requests.
    expect(unpackRequests(packed, 2)).toBeNull();
    const broken = { ...(packed.at(-1) as object), ids: Float64Array.of(1) };
    expect(unpackRequests([broken], 100)).toBeNull();
    // A single request (not an array) is one request.
    expect(unpackRequests({ id: 5, op: 'status' }, 100)).toEqual([{ id: 5, op: 'status' }]);
  });

  it('folds the successful proposal replies into typed arrays and back', () => {
    const replies: ClientReply[] = [
      { id: 1, ok: true, index: 10, term: 2, result: { ok: true, previous: null } },
      { id: 2, ok: false, code: 'NotLeader', message: 'no', leaderId: 'n2' },
      { id: 3, ok: true, index: 11, term: 2, result: 'x' },
    ];
    const seen: ClientReply[] = [];
    forEachReply(structuredClone(packReplies(replies)), (reply) => seen.push(reply));
    expect([...seen].sort((a, b) => a.id - b.id)).toEqual(replies);
    const skipped: ClientReply[] = [];
    forEachReply([null, 7, { op: 'decidedMany', ids: [1] }], (reply) => skipped.push(reply));
    expect(skipped).toEqual([]);
  });
});
