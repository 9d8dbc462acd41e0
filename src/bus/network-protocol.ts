import type { MessagePort } from 'node:worker_threads';
import type { NodeId } from '../protocol/types.ts';
import type { NetworkModelState } from './fault-model.ts';

/**
 * What the cluster's controller (main thread, network-hub.ts) and each server's sender
 * (peer-links.ts, in the server's worker) say to each other over the worker's network port. Raft
 * messages themselves go worker to worker, on one MessagePort per pair of servers; the main thread
 * only sets up those ports and the fault model, and hears taps while someone taps.
 */

/** Controller → sender. */
export type NetworkControl =
  /** The fault model to apply from now on (links, loss, delays): the controller's, whole. */
  | { readonly type: 'model'; readonly state: NetworkModelState }
  /** The port to `id` (a new incarnation of it, or at start): messages to it go there from now on. */
  | { readonly type: 'peer'; readonly id: NodeId; readonly port: MessagePort }
  /** `id` is down: what is sent to it is lost (and counted), until a 'peer' for it comes. */
  | { readonly type: 'peerDown'; readonly id: NodeId }
  /** Hold every delivery (bounded) until 'resume'; sending and counting go on. */
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  /** Post a BusTapEvent per message sent while on (batched per turn), none while off. */
  | { readonly type: 'tap'; readonly on: boolean }
  /** A batch to hand to this server as it is, past the network (tests of the worker boundary). */
  | { readonly type: 'raw'; readonly batch: unknown };

/** One message as its sender routed it, told to taps (the inspector) once its fate is decided. */
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
