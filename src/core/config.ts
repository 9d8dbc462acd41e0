import { RaftchartError } from '../protocol/errors.ts';

/** A server's protocol settings. Times are milliseconds on the actor's clock. */
export interface RaftConfig {
  /** Election timeouts are drawn uniformly from [electionTimeoutMsMin, electionTimeoutMsMax] (§5.2). */
  readonly electionTimeoutMsMin: number;
  readonly electionTimeoutMsMax: number;
  /** How often a leader sends AppendEntries to every follower, with or without entries (§5.2). */
  readonly heartbeatIntervalMs: number;
  /** The most entries one AppendEntries carries. */
  readonly appendEntriesMax: number;
  /** The most command bytes one AppendEntries carries (at least one entry is always sent). */
  readonly appendBytesMax: number;
  /** The most AppendEntries with entries in flight to one follower while replicating (pipelining). */
  readonly inflightMax: number;
  /**
   * CheckQuorum (etcd-io/raft's option of that name; hashicorp/raft always does it): a leader that
   * has not heard from a majority (itself included) over a minimum election timeout steps down to
   * follower, so a leader cut off from the majority stops taking proposals it cannot commit.
   */
  readonly checkQuorum: boolean;
  /**
   * Take a snapshot of the state machine once this many entries were applied since the last one
   * (paper §7), and compact the log behind it. 0: never on its own (cluster.snapshot() still can).
   */
  readonly snapshotEvery: number;
  /**
   * Entries kept in memory behind a snapshot, so that a follower lagging by fewer still gets
   * AppendEntries rather than the whole snapshot (etcd's SnapshotCatchUpEntries).
   */
  readonly snapshotKeepEntries: number;
  /** The most snapshot bytes one InstallSnapshot carries. */
  readonly snapshotChunkBytesMax: number;
  /**
   * PreVote (dissertation §9.6): a server whose election timer fires first asks whether it could
   * win, changing nothing, and stands (raising its term) only if a majority says yes.
   */
  readonly preVote: boolean;
  /**
   * How a leader serves read-only queries (dissertation §6.4): 'readIndex' confirms it still leads
   * with one round of heartbeats to a majority; 'lease' answers at once while a majority answered
   * a heartbeat sent within the lease (a minimum election timeout less the clock-drift bound).
   * Lease needs CheckQuorum.
   */
  readonly readMode: 'readIndex' | 'lease';
  /** Lease reads assume the servers' clocks run at rates within this fraction of each other, in [0, 1). */
  readonly clockDriftBound: number;
  /**
   * Client sessions (dissertation §6.3; src/host/sessions.ts): a session with no command in this
   * many log entries expires, on every server at the same entry (by log index, never a clock).
   */
  readonly sessionExpiryEntries: number;
}

export const defaultRaftConfig: RaftConfig = {
  electionTimeoutMsMin: 150,
  electionTimeoutMsMax: 300,
  heartbeatIntervalMs: 50,
  appendEntriesMax: 4096,
  appendBytesMax: 1 << 20,
  inflightMax: 32,
  checkQuorum: true,
  snapshotEvery: 10_000,
  snapshotKeepEntries: 1_000,
  snapshotChunkBytesMax: 1 << 20,
  preVote: true,
  readMode: 'readIndex',
  clockDriftBound: 0.1,
  sessionExpiryEntries: 100_000,
};

type NumericOption = Exclude<keyof RaftConfig, 'checkQuorum' | 'preVote' | 'readMode' | 'clockDriftBound'>;

/**
 * Heartbeat intervals a lease lasts: an AppendEntries answered by a majority was sent at most this
 * many heartbeats (plus the one under way) ago, well inside a minimum election timeout on any
 * clock drifting by at most clockDriftBound, so no other leader can have been elected since.
 */
export function leaseTicks(config: RaftConfig): number {
  return Math.floor((config.electionTimeoutMsMin * (1 - config.clockDriftBound)) / config.heartbeatIntervalMs) - 1;
}

/** Heartbeats a leader counts before it checks that a majority answered (CheckQuorum): a minimum election timeout's worth. */
export function quorumCheckTicks(config: RaftConfig): number {
  return Math.ceil(config.electionTimeoutMsMin / config.heartbeatIntervalMs);
}

/**
 * Fills defaults and checks the timing requirement of §5.6, broadcastTime ≪ electionTimeout ≪ MTBF:
 * a heartbeat interval above half the minimum election timeout leaves followers too little margin,
 * so it is refused. Throws RaftchartError('InvalidOptions') naming the option.
 */
export function resolveRaftConfig(partial: Partial<RaftConfig> = {}): RaftConfig {
  const config: RaftConfig = { ...defaultRaftConfig, ...partial };
  const positiveIntegers: NumericOption[] = [
    'electionTimeoutMsMin',
    'electionTimeoutMsMax',
    'heartbeatIntervalMs',
    'appendEntriesMax',
    'appendBytesMax',
    'inflightMax',
    'snapshotChunkBytesMax',
    'sessionExpiryEntries',
  ];
  for (const key of positiveIntegers) {
    const value = config[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new RaftchartError('InvalidOptions', `${key} must be a positive integer, got ${String(value)}.`, { option: key });
    }
  }
  for (const key of ['snapshotEvery', 'snapshotKeepEntries'] as const) {
    const value = config[key];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RaftchartError('InvalidOptions', `${key} must be a whole number >= 0 (0: ${key === 'snapshotEvery' ? 'never snapshot on its own' : 'keep none'}), got ${String(value)}.`, {
        option: key,
      });
    }
  }
  for (const key of ['checkQuorum', 'preVote'] as const) {
    if (typeof config[key] !== 'boolean') throw new RaftchartError('InvalidOptions', `${key} must be true or false, got ${String(config[key])}.`, { option: key });
  }
  if (config.readMode !== 'readIndex' && config.readMode !== 'lease') {
    throw new RaftchartError('InvalidOptions', `readMode must be 'readIndex' or 'lease', got ${String(config.readMode)}.`, { option: 'readMode' });
  }
  if (!(typeof config.clockDriftBound === 'number' && config.clockDriftBound >= 0 && config.clockDriftBound < 1)) {
    throw new RaftchartError('InvalidOptions', `clockDriftBound must be a fraction in [0, 1), got ${String(config.clockDriftBound)}.`, { option: 'clockDriftBound' });
  }
  if (config.electionTimeoutMsMax < config.electionTimeoutMsMin) {
    throw new RaftchartError(
      'InvalidOptions',
      `electionTimeoutMs [${config.electionTimeoutMsMin}, ${config.electionTimeoutMsMax}] is empty: give the minimum first.`,
      { option: 'electionTimeoutMs' },
    );
  }
  if (config.heartbeatIntervalMs * 2 > config.electionTimeoutMsMin) {
    throw new RaftchartError(
      'InvalidOptions',
      `heartbeatIntervalMs ${config.heartbeatIntervalMs} must be at most half the minimum election timeout ` +
        `(${config.electionTimeoutMsMin} ms): broadcastTime ≪ electionTimeout (§5.6). Lower the heartbeat or raise the timeout.`,
      { option: 'heartbeatIntervalMs' },
    );
  }
  if (config.readMode === 'lease' && !config.checkQuorum) {
    throw new RaftchartError(
      'InvalidOptions',
      "readMode 'lease' needs checkQuorum: without it a leader cut off from the majority never learns it lost the lease. Turn checkQuorum on, or read with 'readIndex'.",
      { option: 'readMode' },
    );
  }
  if (config.readMode === 'lease' && leaseTicks(config) < 1) {
    throw new RaftchartError(
      'InvalidOptions',
      `readMode 'lease' needs a minimum election timeout of at least ${Math.ceil((2 * config.heartbeatIntervalMs) / (1 - config.clockDriftBound))} ms with a ${config.heartbeatIntervalMs} ms heartbeat: raise it, or read with 'readIndex'.`,
      { option: 'readMode' },
    );
  }
  return config;
}
