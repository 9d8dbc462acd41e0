/**
 * Every error code raftchart reports. Codes are strings so they survive a trip across threads
 * (Comlink and postMessage keep only name, message and stack): check `error.code`, never `instanceof`.
 */
export type ErrorCode =
  | 'InvalidOptions'
  | 'InvalidCommand'
  | 'CommandTooLarge'
  | 'UnknownNode'
  | 'NotLeader'
  | 'TransferInProgress'
  | 'ConfigChangeInProgress'
  | 'LearnerNotCaughtUp'
  | 'Timeout'
  | 'Stopped'
  | 'LogCorrupt'
  | 'LogLocked'
  | 'LogFailed'
  | 'StorageFailed'
  | 'Overloaded'
  | 'Unreachable';

/** An operating error with a string `code` and a message that tells the user what to do. */
export class RaftchartError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'RaftchartError';
    this.code = code;
    this.details = details;
  }
}

/** True when `error` carries the given code, whether it was thrown here or rebuilt from another thread. */
export function hasErrorCode(error: unknown, code: ErrorCode): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
