import { describe, expect, it } from 'vitest';
import { durableLogMachine } from '../../machines/durable-log.machine.ts';
import { machineGraph } from '../../src/inspect/machine-graph.ts';
import { directedGraphView, edgeLines, walkerView } from './chart-edges.ts';

describe('durable-log chart as a graph', () => {
  it('has exactly these states', () => {
    const graph = machineGraph(durableLogMachine);
    expect(graph.states.map((state) => `${state.path || '(machine)'}: ${state.type}${state.invoke.length > 0 ? ` invokes ${state.invoke.join(', ')}` : ''}`)).toEqual([
      '(machine): compound',
      'idle: atomic',
      'snapshotting: compound',
      'snapshotting.writingSnapshot: atomic invokes writeSnapshot',
      'snapshotting.backingOff: atomic',
      'writing: atomic invokes writeRecords',
      'syncing: atomic invokes syncRecords',
      'retrying: compound',
      'retrying.backingOff: atomic',
      'retrying.rewriting: atomic invokes rewriteRecords',
      'failed: atomic',
    ]);
  });

  it('has exactly these transitions: group commit, fsyncgate-safe retry, fail-stop', () => {
    expect(edgeLines(durableLogMachine)).toEqual([
      '(machine) --log.append--> (stays)',
      '(machine) --log.truncate--> (stays)',
      '(machine) --log.saveHardState--> (stays)',
      '(machine) --log.snapshot--> (stays)',
      '(machine) --log.requests--> (stays)',
      'idle --always [isSnapshotNext]--> snapshotting',
      'idle --always [hasQueuedRecords]--> writing',
      'snapshotting.writingSnapshot --storage.done--> idle',
      'snapshotting.writingSnapshot --storage.failed--> snapshotting.backingOff',
      'snapshotting.backingOff --after retryBackoff--> snapshotting.writingSnapshot',
      'snapshotting.backingOff --always [not(hasAttemptsLeft)]--> failed',
      'writing --storage.done--> syncing',
      'writing --storage.failed--> retrying',
      'syncing --storage.done--> idle',
      'syncing --storage.failed--> retrying',
      'retrying.backingOff --after retryBackoff--> retrying.rewriting',
      'retrying.backingOff --always [not(hasAttemptsLeft)]--> failed',
      'retrying.rewriting --storage.done--> idle',
      'retrying.rewriting --storage.failed--> retrying (reenter)',
      'failed --log.append--> (stays)',
      'failed --log.truncate--> (stays)',
      'failed --log.saveHardState--> (stays)',
      'failed --log.snapshot--> (stays)',
      'failed --log.requests--> (stays)',
    ]);
  });

  it('agrees with xstate/graph on every state and every transition taken on an event', () => {
    expect(walkerView(durableLogMachine)).toEqual(directedGraphView(durableLogMachine));
  });
});
