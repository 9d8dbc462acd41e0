import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameError, FrameReader } from '../../src/net/frames.ts';
import { parseAddress, parsePeers } from '../../src/net/addresses.ts';

function readAll(chunks: readonly Buffer[], max = 1 << 20): unknown[] {
  const values: unknown[] = [];
  const reader = new FrameReader(max, (value) => values.push(value));
  for (const chunk of chunks) reader.push(chunk);
  return values;
}

describe('frames', () => {
  const values = [{ type: 'rpc.requestVote', term: 3, to: 'n2' }, { bytes: Uint8Array.of(1, 2, 3), terms: new Float64Array([1.5, 2]) }, 'text', 42];
  const stream = Buffer.concat(values.map((value) => encodeFrame(value)));

  it('reads the values back, whole or cut into single bytes', () => {
    expect(readAll([stream])).toEqual(values);
    const bytes = [...stream].map((byte) => Buffer.of(byte));
    expect(readAll(bytes)).toEqual(values);
    // Cut at every place two frames could straddle.
    for (let cut = 1; cut < stream.length; cut += 7) expect(readAll([stream.subarray(0, cut), stream.subarray(cut)])).toEqual(values);
  });

  it('refuses a frame over the limit before reading it, and a payload that does not deserialize', () => {
    const big = encodeFrame(new Uint8Array(2000));
    expect(() => readAll([big], 1000)).toThrowError(expect.objectContaining({ code: 'FrameTooLarge' }));
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello')]);
    expect(() => readAll([garbage])).toThrowError(FrameError);
    expect(() => readAll([garbage])).toThrowError(expect.objectContaining({ code: 'MalformedFrame' }));
    // A reader that refused once reads nothing more.
    const seen: unknown[] = [];
    const reader = new FrameReader(1 << 20, (value) => seen.push(value));
    expect(() => reader.push(garbage)).toThrow();
    reader.push(encodeFrame('after'));
    expect(seen).toEqual([]);
  });
});

describe('addresses', () => {
  it('parses host:port, [v6]:port and peer lists, and refuses the rest with InvalidOptions', () => {
    expect(parseAddress('127.0.0.1:7001', 'x')).toEqual({ host: '127.0.0.1', port: 7001 });
    expect(parseAddress('[::1]:7001', 'x')).toEqual({ host: '::1', port: 7001 });
    expect(parseAddress('/tmp/a.sock', 'x', true)).toEqual({ path: '/tmp/a.sock' });
    for (const bad of ['127.0.0.1', ':7001', '127.0.0.1:99999', 'a b:1']) expect(() => parseAddress(bad, 'x')).toThrowError(expect.objectContaining({ code: 'InvalidOptions' }));
    expect([...parsePeers('n1=127.0.0.1:7001, n2=10.0.0.2:7002')]).toEqual([
      ['n1', { host: '127.0.0.1', port: 7001 }],
      ['n2', { host: '10.0.0.2', port: 7002 }],
    ]);
    for (const bad of ['', 'n1', 'n1=127.0.0.1:1,n1=127.0.0.1:2', 'n 1=127.0.0.1:1']) expect(() => parsePeers(bad)).toThrowError(expect.objectContaining({ code: 'InvalidOptions' }));
  });
});
