import type { MessagePort } from 'node:worker_threads';
import { Random } from '../core/random.ts';
import type { NodeId } from '../protocol/types.ts';
import { NetworkModel } from './fault-model.ts';

/** Messages and bytes the bus was handed, in total and per message type. */
export interface NetworkStats {
  readonly messages: number;
  readonly bytes: number;
  readonly byType: Record<string, { messages: number; bytes: number }>;
  /** Messages the network model lost (links down, random loss) or that found their receiver gone. */
  readonly dropped: number;
  /** Messages refused by the bus itself: not a message, or sent in another server's name. */
  readonly malformed: number;
}

/** Deliveries waiting on a timer at once; past this, delayed messages are lost (a full router queue). */
export const delayedDeliveriesMax = 200_000;
/** Deliveries held while the bus is paused; past this, further ones are lost. */
export const heldDeliveriesMax = 100_000;

/** One message as the bus routed it, told to taps (the inspector) once its fate is decided. */
export interface BusTapEvent {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly type: string;
  /** Deliveries scheduled: 0 when the network lost it or its receiver is down, 2 when it duplicated it. */
  readonly deliveries: number;
  /** The delay of the first delivery (0 when lost or immediate). */
  readonly delayMs: number;
  /** Entries an AppendEntries carries (0 for any other message). */
  readonly entries: number;
}

export type BusTap = (event: BusTapEvent) => void;

const noDeliveries: readonly number[] = [];

/** A rough wire size: the fixed fields of a message plus, per entry, its header and command bytes (entries packed or not), plus a snapshot chunk's bytes. */
const messageOverheadBytes = 48;
const entryOverheadBytes = 16;

/**
 * The message bus (main thread): routes RaftMessages between server workers over MessagePorts.
 * Each message gets its fate from the shared pure NetworkModel (src/bus/fault-model.ts): lost, or
 * delivered once or twice after a delay, scheduled here with real timers; every random choice comes
 * from one seeded Random. Workers send one array per event-loop turn; the bus forwards one array
 * per receiver per turn too. It counts messages and approximate bytes per type.
 *
 * The bus trusts no worker: a message must be an object whose `from` is the sender's own id and
 * whose `to` is attached; anything else is counted as malformed and dropped. Receivers validate
 * the rest (src/protocol/validate.ts).
 */
export class MessageBus {
  readonly model: NetworkModel;
  readonly #random: Random;
  readonly #ports = new Map<NodeId, MessagePort>();
  readonly #outgoing = new Map<NodeId, unknown[]>();
  /** Delayed deliveries, with their sender: a detached sender's are cancelled. */
  readonly #timers = new Map<NodeJS.Timeout, NodeId>();
  #flushScheduled: NodeJS.Immediate | null = null;
  #messages = 0;
  #bytes = 0;
  #dropped = 0;
  #malformed = 0;
  #paused = false;
  /** Deliveries enqueued since the last flush while paused (bounded by heldDeliveriesMax). */
  #held = 0;
  readonly #taps = new Set<BusTap>();
  readonly #byType = new Map<string, { messages: number; bytes: number }>();
  #closed = false;

  constructor(options: { readonly seed: number; readonly model?: NetworkModel }) {
    this.model = options.model ?? new NetworkModel();
    this.#random = new Random(options.seed, 'message-bus');
  }

  /** Routes messages from and to `id` through `port` (the bus's end of the worker's channel). */
  attach(id: NodeId, port: MessagePort): void {
    this.detach(id);
    port.on('message', (batch: unknown) => this.#onBatch(id, batch));
    this.#ports.set(id, port);
  }

  /**
   * Closes `id`'s port: nothing more from it is routed or delivered, including its messages still
   * queued or delayed here, and nothing more is delivered to it. With `only`, only when that is
   * still `id`'s port (a dead incarnation must not detach its successor).
   */
  detach(id: NodeId, only?: MessagePort): void {
    const port = this.#ports.get(id);
    if (port === undefined || (only !== undefined && port !== only)) return;
    port.removeAllListeners('message');
    port.close();
    this.#ports.delete(id);
    this.#outgoing.delete(id);
    for (const [to, queue] of this.#outgoing) {
      const kept = queue.filter((message) => (message as { from?: unknown }).from !== id);
      this.#dropped += queue.length - kept.length;
      this.#outgoing.set(to, kept);
    }
    for (const [timer, from] of this.#timers) {
      if (from !== id) continue;
      clearTimeout(timer);
      this.#timers.delete(timer);
      this.#dropped++;
    }
  }

  /** Hands `batch` to `id` as it is, past the network model: for tests of the worker boundary. */
  deliverRaw(id: NodeId, batch: unknown): void {
    this.#ports.get(id)?.postMessage(batch);
  }

  /**
   * Calls `tap` with every routed message once the network model decided its fate, until the
   * returned function is called. With no tap the bus does no extra work per message.
   */
  tap(tap: BusTap): () => void {
    this.#taps.add(tap);
    return () => this.#taps.delete(tap);
  }

  /** Holds every delivery (up to heldDeliveriesMax, then drops) until resume(); routing and counting go on. */
  pause(): void {
    this.#paused = true;
  }

  /** Releases the held deliveries, in order, and delivers as usual from now on. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#outgoing.size > 0 && !this.#closed) this.#flushScheduled ??= setImmediate(() => this.#flush());
  }

  get paused(): boolean {
    return this.#paused;
  }

  stats(): NetworkStats {
    const byType: Record<string, { messages: number; bytes: number }> = {};
    for (const [type, counts] of this.#byType) byType[type] = { ...counts };
    return { messages: this.#messages, bytes: this.#bytes, byType, dropped: this.#dropped, malformed: this.#malformed };
  }

  /** Closes every port and clears every timer; idempotent. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.keys()) clearTimeout(timer);
    this.#timers.clear();
    if (this.#flushScheduled !== null) clearImmediate(this.#flushScheduled);
    for (const id of [...this.#ports.keys()]) this.detach(id);
  }

  #onBatch(from: NodeId, batch: unknown): void {
    if (!Array.isArray(batch)) {
      this.#malformed++;
      return;
    }
    for (const message of batch) this.#route(from, message);
  }

  #route(from: NodeId, message: unknown): void {
    if (typeof message !== 'object' || message === null) {
      this.#malformed++;
      return;
    }
    const { type, to } = message as { type?: unknown; to?: unknown; from?: unknown };
    if ((message as { from?: unknown }).from !== from || typeof type !== 'string' || typeof to !== 'string') {
      this.#malformed++;
      return;
    }
    this.#count(type, message);
    // A server that is down (detached) loses what is sent to it, whatever the network would do.
    const delays = this.#ports.has(to) ? this.model.decide(from, to, this.#random) : noDeliveries;
    if (delays.length === 0) this.#dropped++;
    if (this.#taps.size > 0) this.#tell(from, to, type, message, delays);
    for (const delayMs of delays) {
      if (delayMs === 0) this.#enqueue(to, message);
      else this.#delay(from, to, message, delayMs);
    }
  }

  #count(type: string, message: object): void {
    const bytes = approximateBytes(message);
    this.#messages++;
    this.#bytes += bytes;
    const counts = this.#byType.get(type);
    if (counts === undefined) this.#byType.set(type, { messages: 1, bytes });
    else {
      counts.messages++;
      counts.bytes += bytes;
    }
  }

  #tell(from: NodeId, to: NodeId, type: string, message: object, delays: readonly number[]): void {
    // Untrusted until the receiver validates it: any shape may come here.
    const entries = (message as { entries?: unknown }).entries as { count?: unknown; length?: unknown } | null | undefined;
    const count = typeof entries === 'object' && entries !== null ? Number(entries.count ?? entries.length ?? 0) : 0;
    const event: BusTapEvent = { from, to, type, deliveries: delays.length, delayMs: delays[0] ?? 0, entries: Number.isFinite(count) ? count : 0 };
    for (const tap of this.#taps) tap(event);
  }

  #delay(from: NodeId, to: NodeId, message: unknown, delayMs: number): void {
    if (this.#timers.size >= delayedDeliveriesMax) {
      this.#dropped++;
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#enqueue(to, message);
    }, delayMs);
    this.#timers.set(timer, from);
  }

  #enqueue(to: NodeId, message: unknown): void {
    if (this.#closed || !this.#ports.has(to)) {
      this.#dropped++;
      return;
    }
    if (this.#paused && this.#held++ >= heldDeliveriesMax) {
      this.#dropped++;
      return;
    }
    const queue = this.#outgoing.get(to);
    if (queue === undefined) this.#outgoing.set(to, [message]);
    else queue.push(message);
    if (!this.#paused) this.#flushScheduled ??= setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = null;
    if (this.#paused) return;
    this.#held = 0;
    for (const [to, batch] of this.#outgoing) {
      const port = this.#ports.get(to);
      if (port === undefined) this.#dropped += batch.length;
      else if (batch.length > 0) port.postMessage(batch);
    }
    this.#outgoing.clear();
  }
}

function approximateBytes(message: object): number {
  const entries = (message as { entries?: unknown }).entries;
  let bytes = messageOverheadBytes;
  const data = (message as { data?: unknown }).data;
  if (data instanceof Uint8Array) bytes += data.byteLength;
  const packed = entries as { count?: unknown; bytes?: unknown } | undefined;
  if (typeof packed === 'object' && packed !== null && typeof packed.count === 'number' && packed.bytes instanceof Uint8Array) {
    bytes += packed.count * entryOverheadBytes + packed.bytes.byteLength;
  } else if (Array.isArray(entries)) {
    for (const entry of entries) {
      const command = (entry as { command?: unknown } | null)?.command;
      bytes += entryOverheadBytes + (command instanceof Uint8Array ? command.byteLength : 0);
    }
  }
  return bytes;
}
