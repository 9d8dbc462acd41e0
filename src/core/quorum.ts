import { assert } from './assert.ts';
import { quorumSize } from './vote.ts';

/**
 * The highest index that a majority has matched: sort descending and take the quorum-th value.
 * `matchIndexes` holds one value per voter, the leader's own (synced) included (§5.3, §5.4.2).
 */
export function quorumMatchIndex(matchIndexes: readonly number[]): number {
  assert(matchIndexes.length > 0, 'no voters');
  const sorted = [...matchIndexes].sort((a, b) => b - a);
  return sorted[quorumSize(matchIndexes.length) - 1];
}
