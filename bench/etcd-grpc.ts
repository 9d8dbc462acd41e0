import { connect, constants, type ClientHttp2Session } from 'node:http2';

/**
 * A lean etcd v3 client: gRPC over node:http2 with protobuf encoded by hand, so the client costs
 * as little CPU as possible (the npm `etcd3` client saturates a core at ~3,500 puts/s here).
 * Only what the benchmark needs: KV/Put and Maintenance/Status.
 */

/** Protobuf wire types used here. */
const wireVarint = 0;
const wireBytes = 2;

/** Appends `value` (a non-negative integer below 2^53) as a base-128 varint. */
export function encodeVarint(value: number, out: number[]): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/** `etcdserverpb.PutRequest { bytes key = 1; bytes value = 2; }` with every other field at its default. */
export function encodePutRequest(key: Uint8Array, value: Uint8Array): Uint8Array {
  const head: number[] = [];
  head.push((1 << 3) | wireBytes);
  encodeVarint(key.byteLength, head);
  const middle: number[] = [];
  middle.push((2 << 3) | wireBytes);
  encodeVarint(value.byteLength, middle);
  const out = new Uint8Array(head.length + key.byteLength + middle.length + value.byteLength);
  out.set(head, 0);
  out.set(key, head.length);
  out.set(middle, head.length + key.byteLength);
  out.set(value, head.length + key.byteLength + middle.length);
  return out;
}

/** A gRPC length-prefixed message: flag 0 (not compressed), 4-byte big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const frame = new Uint8Array(5 + message.byteLength);
  new DataView(frame.buffer).setUint32(1, message.byteLength);
  frame.set(message, 5);
  return frame;
}

/** The varint and length-delimited fields of a protobuf message (varints as bigint: etcd ids are uint64). */
export function decodeFields(message: Uint8Array): Map<number, bigint | Uint8Array> {
  const fields = new Map<number, bigint | Uint8Array>();
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= message.byteLength) throw new Error('protobuf: a varint runs past the end');
      const byte = message[at++];
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < message.byteLength) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === wireVarint) {
      fields.set(field, varint());
    } else if (wire === wireBytes) {
      const length = Number(varint());
      if (at + length > message.byteLength) throw new Error('protobuf: a field runs past the end');
      fields.set(field, message.subarray(at, at + length));
      at += length;
    } else {
      throw new Error(`protobuf: wire type ${wire} (field ${field}) is not one etcd's Status or Put responses use`);
    }
  }
  return fields;
}

/** The gRPC messages of one response: the 5-byte headers stripped. */
export function grpcMessages(body: Uint8Array): Uint8Array[] {
  const messages: Uint8Array[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  while (at < body.byteLength) {
    if (at + 5 > body.byteLength) throw new Error('gRPC: a truncated message header');
    if (body[at] !== 0) throw new Error('gRPC: a compressed message, and no compression was offered');
    const length = view.getUint32(at + 1);
    if (at + 5 + length > body.byteLength) throw new Error('gRPC: a truncated message');
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}

/** One HTTP/2 connection to one etcd member. */
export class EtcdConnection {
  readonly #session: ClientHttp2Session;

  private constructor(session: ClientHttp2Session) {
    this.#session = session;
  }

  static open(clientUrl: string): Promise<EtcdConnection> {
    return new Promise((resolve, reject) => {
      const session = connect(clientUrl);
      session.once('connect', () => {
        session.off('error', reject);
        // A connection error after the connect fails each call on it; nothing else to do here.
        session.on('error', () => undefined);
        resolve(new EtcdConnection(session));
      });
      session.once('error', reject);
    });
  }

  /** Calls `path` with one request message (already framed); resolves the response message, rejects on a non-zero grpc-status. */
  call(path: string, framedRequest: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const stream = this.#session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const note = (headers: Record<string, unknown>) => {
        if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
        if (headers['grpc-message'] !== undefined) message = decodeURIComponent(String(headers['grpc-message']));
      };
      stream.on('response', note);
      stream.on('trailers', note);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('end', () => {
        if (status !== '0') {
          reject(new Error(`etcd ${path}: grpc-status ${status ?? 'missing'} ${message}`.trim()));
          return;
        }
        try {
          const messages = grpcMessages(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
          if (messages.length !== 1) throw new Error(`gRPC: ${messages.length} response messages to a unary call`);
          resolve(messages[0]);
        } catch (error) {
          reject(error);
        }
      });
      stream.end(framedRequest);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#session.close(() => resolve()));
  }
}

export const putPath = '/etcdserverpb.KV/Put';
const statusPath = '/etcdserverpb.Maintenance/Status';
/** An empty StatusRequest, framed. */
const statusRequest = grpcFrame(new Uint8Array(0));

/**
 * `Maintenance/Status`: this member's id (ResponseHeader.member_id, field 2 of field 1) and the
 * leader's id (StatusResponse.leader, field 4; 0 while there is none).
 */
export async function memberStatus(connection: EtcdConnection): Promise<{ memberId: bigint; leaderId: bigint }> {
  const fields = decodeFields(await connection.call(statusPath, statusRequest));
  const header = fields.get(1);
  // proto3 leaves a zero out: no leader field means no leader yet.
  const leaderId = fields.get(4) ?? 0n;
  if (!(header instanceof Uint8Array) || typeof leaderId !== 'bigint') throw new Error('etcd Status: no header in the response');
  const memberId = decodeFields(header).get(2);
  if (typeof memberId !== 'bigint') throw new Error('etcd Status: no member_id in the header');
  return { memberId, leaderId };
}
