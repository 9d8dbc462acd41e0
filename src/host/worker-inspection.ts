import type { Actor, AnyActorRef } from 'xstate';
import type { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { statePaths } from '../core/state-paths.ts';
import type { NodeId } from '../protocol/types.ts';
import type { WorkerStatusDetail } from './worker-protocol.ts';

/** The most log entries one status detail carries (the tail of the log). */
export const logTailEntriesMax = 200;

/**
 * What the inspector shows of one running server beyond its status, read from the chart's
 * snapshot and its durable-log child at the moment of the call (nothing is tracked in between):
 * O(logTailMax + peers). `confirmations` is the WAL's count of confirmed syncs.
 */
export function readStatusDetail(server: Actor<typeof raftServerMachine>, logTailMax: number, confirmations: number): WorkerStatusDetail {
  const snapshot = server.getSnapshot();
  const context = snapshot.context;
  // Only entries the log still holds: compacted ones are in the snapshot (snapshotIndex in the status).
  const tailCount = Math.max(0, Math.min(Math.floor(logTailMax), logTailEntriesMax, context.log.lastIndex - context.log.baseIndex));
  const logTail: { index: number; term: number }[] = [];
  for (let index = context.log.lastIndex - tailCount + 1; index <= context.log.lastIndex; index++) {
    logTail.push({ index, term: context.log.termAt(index) ?? 0 });
  }
  let progress: Record<NodeId, { nextIndex: number; matchIndex: number }> | null = null;
  if (snapshot.matches('leader')) {
    progress = {};
    for (const peer of context.peers) {
      const p = context.progress[peer];
      if (p !== undefined) progress[peer] = { nextIndex: p.nextIndex, matchIndex: p.matchIndex };
    }
  }
  const durableLog = (snapshot.children as Record<string, AnyActorRef | undefined>).durableLog?.getSnapshot() as
    | { value: unknown; context: { synced: { seq: number }; queue: readonly unknown[] } }
    | undefined;
  return {
    statePaths: statePaths(snapshot.value),
    electionTimeoutMs: context.electionTimeoutMs,
    logTail,
    progress,
    durableLog: {
      statePaths: durableLog === undefined ? [] : statePaths(durableLog.value),
      requestedSeq: context.logSeq,
      syncedSeq: context.synced.seq,
      queued: durableLog?.context.queue.length ?? 0,
      confirmations,
    },
  };
}
