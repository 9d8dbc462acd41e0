/**
 * raftchart's public API: a local Raft cluster of worker threads (LocalCluster), servers over TCP
 * (startServer, `raftchart serve`) and their network client (RaftClient), their types, and the
 * errors they report. Check `error.code`, never `instanceof`, for errors from another thread.
 */
export { LocalCluster, leaderOf, stateShown } from './cluster/local-cluster.ts';
export { ClusterSession, type SessionOptions, type SessionProposeOptions } from './cluster/session.ts';
export type {
  AppliedEntry,
  BusTap,
  BusTapEvent,
  NodeInspection,
  WorkerStatusDetail,
  ClusterNetwork,
  ClusterOptions,
  CommittedResult,
  NetworkStats,
  NodeStatus,
  ProposeResult,
  ServerInspectionEvent,
} from './cluster/local-cluster.ts';
export type { NodeId, Role } from './protocol/types.ts';
export { Inspector, type InspectorOptions } from './inspect/inspector-server.ts';
export type { ViewedCluster, ViewedNetwork } from './cluster/viewed-cluster.ts';
export { RaftClient, type RaftClientOptions, type ServerReport } from './net/raft-client.ts';
export { startServer, type ServeOptions, type RunningServer } from './net/serve.ts';
export { ProcessCluster, type ProcessClusterOptions } from './net/process-cluster.ts';
export { defaultTcpLimits, type TcpLimits, type TlsFiles, type CloseCode, type TransportLogEvent } from './net/tcp-transport.ts';
export { RaftchartError, hasErrorCode, type ErrorCode } from './protocol/errors.ts';
export { errorCodes } from './cluster/error-codes.ts';
export { KeyValueStore, encodeKeyValueCommand, type StateMachine, type StateMachineFactory } from './host/key-value-store.ts';
