import type { ErrorCode } from '../protocol/errors.ts';

/** Every code a RaftchartError may carry; the record makes the compiler refuse a missing one. */
const codes: Record<ErrorCode, true> = {
  InvalidOptions: true,
  InvalidCommand: true,
  CommandTooLarge: true,
  UnknownNode: true,
  NotLeader: true,
  TransferInProgress: true,
  ConfigChangeInProgress: true,
  LearnerNotCaughtUp: true,
  Timeout: true,
  Stopped: true,
  LogCorrupt: true,
  LogLocked: true,
  LogFailed: true,
  StorageFailed: true,
  Overloaded: true,
  Unreachable: true,
};

export const errorCodes: readonly ErrorCode[] = Object.freeze(Object.keys(codes) as ErrorCode[]);
