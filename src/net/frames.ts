import { deserialize, serialize } from 'node:v8';

/**
 * Frames on a TCP stream (src/net): a 4-byte big-endian length, then that many bytes of one value
 * serialized with node:v8 (the structured-clone format Node already uses between threads, so the
 * packed entries of src/protocol/packing.ts cross as a few typed arrays, with no copy per entry).
 * What arrives is untrusted: a frame longer than the reader's limit, or bytes that do not
 * deserialize, is an error the connection is closed for; the value itself is validated by whoever
 * reads it (src/protocol/validate.ts for Raft messages).
 */

/** Bytes of the length prefix. */
export const frameHeaderBytes = 4;

/** Why a stream of frames is refused: the reader stops at the first bad frame. */
export class FrameError extends Error {
  readonly code: 'FrameTooLarge' | 'MalformedFrame';
  constructor(code: FrameError['code'], message: string) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
  }
}

/** `value` as one frame: its length, then its v8 serialization. */
export function encodeFrame(value: unknown): Buffer {
  const payload = serialize(value);
  const frame = Buffer.allocUnsafe(frameHeaderBytes + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  payload.copy(frame, frameHeaderBytes);
  return frame;
}

/**
 * Cuts a byte stream into frames and deserializes each: `push` what the socket read, and every
 * whole frame in it is handed to `onValue` in order. Throws FrameError (and is then spent) on a
 * length above `frameBytesMax` or a payload that does not deserialize.
 */
export class FrameReader {
  readonly #frameBytesMax: number;
  readonly #onValue: (value: unknown) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The length of the frame being read, once its header is in; -1 before. */
  #expected = -1;
  #spent = false;

  constructor(frameBytesMax: number, onValue: (value: unknown) => void) {
    this.#frameBytesMax = frameBytesMax;
    this.#onValue = onValue;
  }

  push(chunk: Buffer): void {
    if (this.#spent) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < frameHeaderBytes) return;
        const length = this.#take(frameHeaderBytes).readUInt32BE(0);
        if (length > this.#frameBytesMax) {
          this.#spent = true;
          throw new FrameError('FrameTooLarge', `a frame of ${length} bytes is over the limit of ${this.#frameBytesMax} bytes`);
        }
        this.#expected = length;
      }
      if (this.#buffered < this.#expected) return;
      const payload = this.#take(this.#expected);
      this.#expected = -1;
      let value: unknown;
      try {
        value = deserialize(payload);
      } catch (error) {
        this.#spent = true;
        throw new FrameError('MalformedFrame', `a frame did not deserialize: ${error instanceof Error ? error.message : String(error)}`);
      }
      this.#onValue(value);
    }
  }

  /** Bytes held for a frame not yet whole. */
  get buffered(): number {
    return this.#buffered;
  }

  /** The first `bytes` buffered bytes, as one Buffer (a view when they lie in one chunk). */
  #take(bytes: number): Buffer {
    this.#buffered -= bytes;
    const first = this.#chunks[0];
    if (first.byteLength === bytes) {
      this.#chunks.shift();
      return first;
    }
    if (first.byteLength > bytes) {
      this.#chunks[0] = first.subarray(bytes);
      return first.subarray(0, bytes);
    }
    const out = Buffer.allocUnsafe(bytes);
    let copied = 0;
    while (copied < bytes) {
      const chunk = this.#chunks[0];
      const n = Math.min(chunk.byteLength, bytes - copied);
      chunk.copy(out, copied, 0, n);
      copied += n;
      if (n === chunk.byteLength) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    return out;
  }
}
