/**
 * raftchart's public API: a local Raft cluster of worker threads (LocalCluster), its types, and
 * the errors it reports. Check `error.code`, never `instanceof`, for errors from another thread.
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
export { RaftchartError, hasErrorCode, type ErrorCode } from './protocol/errors.ts';
export { errorCodes } from './cluster/error-codes.ts';
export { KeyValueStore, encodeKeyValueCommand, type StateMachine, type StateMachineFactory } from './host/key-value-store.ts';
