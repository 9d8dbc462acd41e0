import type { WorkerStatus } from '../host/worker-protocol.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';

/**
 * What a network client (src/net/raft-client.ts, `raftchart kv`) and a `raftchart serve` process
 * say on the client port: frames (src/net/frames.ts), each one request or one reply, matched by
 * `id`. Any number may be in flight on one connection; a server answers in any order. Proposals
 * and reads that arrive in one turn go to the chart as one batch.
 */

export type ClientRequest =
  /** Who this server is, and what it knows of the leader. */
  | { readonly id: number; readonly op: 'hello' }
  /** `command` appended on this server as leader; answered once committed and applied here. */
  | { readonly id: number; readonly op: 'propose'; readonly command: Uint8Array }
  /** `query` run on this server's state machine once it confirmed it leads (ReadIndex or lease), with no log entry. */
  | { readonly id: number; readonly op: 'read'; readonly query: Uint8Array }
  | { readonly id: number; readonly op: 'status' }
  /** status, with the chart's detail for the inspector (log tail, durable log, peers' progress). */
  | { readonly id: number; readonly op: 'inspect'; readonly logTailMax: number }
  /** Fault injection, only on a server started with --fault-injection: drop every message to and from `cut` (empty: heal). */
  | { readonly id: number; readonly op: 'links'; readonly cut: readonly NodeId[] };

export interface HelloReply {
  readonly id: number;
  readonly ok: true;
  readonly serverId: NodeId;
  readonly cluster: string;
  readonly status: WorkerStatus;
}

export interface ProposeReply {
  readonly id: number;
  readonly ok: true;
  readonly index: number;
  readonly term: number;
  readonly result: unknown;
}

export interface StatusReply {
  readonly id: number;
  readonly ok: true;
  readonly serverId: NodeId;
  readonly status: WorkerStatus;
  readonly transport: {
    readonly connectedPeers: readonly NodeId[];
    /** Peers cut off by fault injection. */
    readonly cutPeers: readonly NodeId[];
    readonly messagesSent: number;
    readonly messagesReceived: number;
    readonly messagesDropped: number;
    readonly bytesSent: number;
    readonly connectionsRefused: number;
  };
}

export interface FailureReply {
  readonly id: number;
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
  /** The leader this server knows of (NotLeader), or null. */
  readonly leaderId: NodeId | null;
}

export type ClientReply = HelloReply | ProposeReply | StatusReply | FailureReply;

/** The most requests one server holds unanswered, over all its client connections; past it, requests are refused Overloaded. */
export const clientRequestsWaitingMax = 100_000;
