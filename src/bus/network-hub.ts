import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { NodeId } from '../protocol/types.ts';
import { NetworkModel } from './fault-model.ts';
import { sumNetworkCounters, type NetworkStats } from './network-counters.ts';
import type { BusTap, BusTapEvent, NetworkControl } from './network-protocol.ts';

/** One running server as the hub knows it. */
interface Attached {
  readonly port: MessagePort;
  readonly counters: SharedArrayBuffer;
}

/**
 * The controller's side of the network between server workers (main thread). It keeps the fault
 * model (links, loss, delays) and pause, and tells every server's sender (peer-links.ts) of each
 * change; it gives each pair of running servers a MessagePort of their own, so Raft messages go
 * worker to worker and never through this thread; it adds up the senders' shared counters for
 * stats(), and hears taps only while someone taps (no tap, no cost).
 */
export class NetworkHub {
  readonly model: NetworkModel;
  readonly #attached = new Map<NodeId, Attached>();
  /** Counters of incarnations that are gone: their messages still count. */
  readonly #retired: SharedArrayBuffer[] = [];
  readonly #taps = new Set<BusTap>();
  #paused = false;
  #closed = false;

  constructor(options: { readonly model?: NetworkModel } = {}) {
    this.model = options.model ?? new NetworkModel();
  }

  /**
   * A server's new incarnation joins: `port` is the main thread's end of its network port,
   * `counters` its shared counters. It gets the model, pause and tap state, and a port to every
   * running server (each of them a port to it).
   */
  attach(id: NodeId, port: MessagePort, counters: SharedArrayBuffer): void {
    this.detach(id);
    if (this.#closed) return;
    port.on('message', (events: readonly BusTapEvent[]) => this.#onTaps(events));
    this.#tell(port, { type: 'model', state: this.model.state() });
    if (this.#paused) this.#tell(port, { type: 'pause' });
    if (this.#taps.size > 0) this.#tell(port, { type: 'tap', on: true });
    for (const [peer, attached] of this.#attached) {
      const channel = new MessageChannel();
      attached.port.postMessage({ type: 'peer', id, port: channel.port1 } satisfies NetworkControl, [channel.port1]);
      port.postMessage({ type: 'peer', id: peer, port: channel.port2 } satisfies NetworkControl, [channel.port2]);
    }
    this.#attached.set(id, { port, counters });
  }

  /** `id` is down: its port closes, every other server loses what it sends to it, and its counts are kept. With `only`, only when that is still its port. */
  detach(id: NodeId, only?: MessagePort): void {
    const attached = this.#attached.get(id);
    if (attached === undefined || (only !== undefined && attached.port !== only)) return;
    this.#attached.delete(id);
    this.#retired.push(attached.counters);
    attached.port.removeAllListeners('message');
    attached.port.close();
    for (const other of this.#attached.values()) this.#tell(other.port, { type: 'peerDown', id });
  }

  /** Tells every sender the model as it is now: call after each change to `model`. */
  modelChanged(): void {
    this.#broadcast({ type: 'model', state: this.model.state() });
  }

  /** Hands `batch` to `id` as it is, past the network: for tests of the worker boundary. */
  deliverRaw(id: NodeId, batch: unknown): void {
    const attached = this.#attached.get(id);
    if (attached !== undefined) this.#tell(attached.port, { type: 'raw', batch });
  }

  /** Calls `tap` with every message a sender routes, and its fate, until the returned function is called. */
  tap(tap: BusTap): () => void {
    this.#taps.add(tap);
    if (this.#taps.size === 1) this.#broadcast({ type: 'tap', on: true });
    return () => {
      if (this.#taps.delete(tap) && this.#taps.size === 0) this.#broadcast({ type: 'tap', on: false });
    };
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#broadcast({ type: 'pause' });
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#broadcast({ type: 'resume' });
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Every message handed to the network so far, by type, with what was lost: read from shared memory, nothing asked of the workers. */
  stats(): NetworkStats {
    return sumNetworkCounters([...this.#retired, ...[...this.#attached.values()].map((attached) => attached.counters)]);
  }

  /** Closes every port; idempotent. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#attached.keys()]) this.detach(id);
    this.#taps.clear();
  }

  #broadcast(command: NetworkControl): void {
    for (const attached of this.#attached.values()) this.#tell(attached.port, command);
  }

  #tell(port: MessagePort, command: NetworkControl): void {
    port.postMessage(command);
  }

  #onTaps(events: readonly BusTapEvent[]): void {
    if (this.#taps.size === 0 || !Array.isArray(events)) return;
    for (const event of events) for (const tap of this.#taps) tap(event);
  }
}
