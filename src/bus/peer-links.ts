import type { MessagePort } from 'node:worker_threads';
import { Random } from '../core/random.ts';
import { TurnBatcher } from '../core/turn-batcher.ts';
import type { NodeId } from '../protocol/types.ts';
import { NetworkModel } from './fault-model.ts';
import { approximateBytes, NetworkCounter } from './network-counters.ts';
import type { BusTapEvent, NetworkControl } from './network-protocol.ts';

/** Deliveries one sender holds on timers at once; past this, delayed messages are lost (a full router queue). */
export const delayedDeliveriesMax = 100_000;
/** Deliveries one sender holds while the network is paused; past this, further ones are lost. */
export const heldDeliveriesMax = 100_000;
/** Tap events one sender gathers in a turn; past this, further ones are not told (the messages still go). */
export const tapEventsPerTurnMax = 10_000;

export interface PeerLinksOptions {
  readonly self: NodeId;
  /** Seeds this sender's random fates; one seed replays the same fates for the same messages. */
  readonly seed: number;
  /** The worker's end of its network port to the controller (network-hub.ts). */
  readonly control: MessagePort;
  /** This incarnation's shared counters (network-counters.ts). */
  readonly counters: SharedArrayBuffer;
  /**
   * Messages arrived from peer `from`: an array, each an object that names `from` as its sender
   * (anything else was dropped and counted as malformed); otherwise untrusted, the host validates them.
   */
  readonly onReceive: (from: NodeId, messages: unknown[]) => void;
  /** A batch the controller hands over past the network (injectRaw). */
  readonly onRaw: (batch: unknown) => void;
}

/**
 * One server's end of the network between workers: a MessagePort per peer, and the fault model
 * (fault-model.ts, the one the simulator uses) applied here, in the sender, to every message:
 * lost, or delivered once or twice after a delay on this thread's timers. Messages to one peer
 * in one turn go as one array. The controller keeps the model, the links and pause; this side
 * follows what it is told and counts into shared memory; taps cost nothing while nobody taps.
 */
export class PeerLinks {
  readonly model = new NetworkModel();
  readonly #self: NodeId;
  readonly #random: Random;
  readonly #counter: NetworkCounter;
  readonly #control: MessagePort;
  readonly #onReceive: PeerLinksOptions['onReceive'];
  readonly #onRaw: PeerLinksOptions['onRaw'];
  readonly #ports = new Map<NodeId, MessagePort>();
  /** This turn's deliveries, posted as one array per peer at the end of the turn. */
  readonly #outgoing = new TurnBatcher<Delivery>((deliveries) => this.#post(deliveries));
  /** Deliveries held while paused (at most heldDeliveriesMax), in order. */
  #held: Delivery[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #paused = false;
  #tapping = false;
  readonly #taps: TurnBatcher<BusTapEvent>;
  #closed = false;

  constructor(options: PeerLinksOptions) {
    this.#self = options.self;
    this.#random = new Random(options.seed, `network/${options.self}`);
    this.#counter = new NetworkCounter(options.counters);
    this.#control = options.control;
    this.#onReceive = options.onReceive;
    this.#onRaw = options.onRaw;
    this.#taps = new TurnBatcher<BusTapEvent>((events) => this.#control.postMessage(events));
    this.#control.on('message', (command: NetworkControl) => this.#onControl(command));
  }

  /** Sends one message (its `to` and `type` read here) through the fault model to its peer. */
  send(message: { readonly type: string; readonly to: NodeId }): void {
    if (this.#closed) return;
    const { type, to } = message;
    this.#counter.sent(type, approximateBytes(message));
    const delays = this.#ports.has(to) ? this.model.decide(this.#self, to, this.#random) : noDeliveries;
    if (delays.length === 0) this.#counter.dropped();
    if (this.#tapping) this.#tell(message, delays);
    for (const delayMs of delays) {
      if (delayMs === 0) this.#enqueue(to, message);
      else this.#delay(to, message, delayMs);
    }
  }

  /** Closes every port and timer; nothing more is sent or received. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#outgoing.clear();
    this.#held = [];
    for (const port of this.#ports.values()) port.close();
    this.#ports.clear();
    this.#control.close();
  }

  #onControl(command: NetworkControl): void {
    switch (command.type) {
      case 'model':
        this.model.load(command.state);
        break;
      case 'peer':
        this.#setPeer(command.id, command.port);
        break;
      case 'peerDown':
        this.#setPeer(command.id, null);
        break;
      case 'pause':
        this.#paused = true;
        break;
      case 'resume': {
        this.#paused = false;
        const held = this.#held;
        this.#held = [];
        for (const delivery of held) this.#outgoing.push(delivery);
        break;
      }
      case 'tap':
        this.#tapping = command.on;
        break;
      case 'raw':
        this.#onRaw(command.batch);
        break;
    }
  }

  #setPeer(id: NodeId, port: MessagePort | null): void {
    this.#ports.get(id)?.close();
    // What waits for the incarnation that is gone (held, or not yet posted) is lost with it, at the post.
    this.#ports.delete(id);
    if (port === null) return;
    port.on('message', (batch: unknown) => this.#receive(id, batch));
    this.#ports.set(id, port);
  }

  /** Keeps only what `from` may have sent: an array of objects in its own name. */
  #receive(from: NodeId, batch: unknown): void {
    if (!Array.isArray(batch)) {
      this.#counter.malformed();
      return;
    }
    let kept = 0;
    for (let i = 0; i < batch.length; i++) {
      const message: unknown = batch[i];
      if (typeof message === 'object' && message !== null && (message as { from?: unknown }).from === from) batch[kept++] = message;
      else this.#counter.malformed();
    }
    batch.length = kept;
    if (kept > 0) this.#onReceive(from, batch);
  }

  #delay(to: NodeId, message: unknown, delayMs: number): void {
    if (this.#timers.size >= delayedDeliveriesMax) {
      this.#counter.dropped();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#enqueue(to, message);
    }, delayMs);
    this.#timers.add(timer);
  }

  #enqueue(to: NodeId, message: unknown): void {
    if (this.#closed || !this.#ports.has(to) || (this.#paused && this.#held.length >= heldDeliveriesMax)) {
      this.#counter.dropped();
      return;
    }
    if (this.#paused) this.#held.push({ to, message });
    else this.#outgoing.push({ to, message });
  }

  /** A turn's deliveries: one array per peer, in order; those for a peer that went down are lost. */
  #post(deliveries: readonly Delivery[]): void {
    if (this.#closed) return;
    const byPeer = new Map<NodeId, unknown[]>();
    for (const { to, message } of deliveries) {
      const batch = byPeer.get(to);
      if (batch === undefined) byPeer.set(to, [message]);
      else batch.push(message);
    }
    for (const [to, batch] of byPeer) {
      const port = this.#ports.get(to);
      if (port === undefined) this.#counter.dropped(batch.length);
      else port.postMessage(batch);
    }
  }

  #tell(message: { readonly type: string; readonly to: NodeId }, delays: readonly number[]): void {
    if (this.#taps.size >= tapEventsPerTurnMax) return;
    const entries = (message as { entries?: { count?: unknown; length?: unknown } }).entries;
    const count = typeof entries === 'object' && entries !== null ? Number(entries.count ?? entries.length ?? 0) : 0;
    this.#taps.push({ from: this.#self, to: message.to, type: message.type, deliveries: delays.length, delayMs: delays[0] ?? 0, entries: Number.isFinite(count) ? count : 0 });
  }
}

const noDeliveries: readonly number[] = [];

/** A message on its way to peer `to`. */
interface Delivery {
  readonly to: NodeId;
  readonly message: unknown;
}
