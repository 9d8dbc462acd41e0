import { describe, expect, it } from 'vitest';
import { statePaths } from '../../src/core/state-paths.ts';

describe('statePaths', () => {
  it('turns an XState state value into dot-joined leaf paths', () => {
    expect(statePaths('follower')).toEqual(['follower']);
    expect(statePaths({ leader: 'replicating' })).toEqual(['leader.replicating']);
    expect(statePaths({ candidate: { requestingVotes: 'awaitingVotes' } })).toEqual(['candidate.requestingVotes.awaitingVotes']);
    expect(statePaths({ a: 'x', b: { c: 'y' } })).toEqual(['a.x', 'b.c.y']);
    expect(statePaths({ retrying: {} })).toEqual(['retrying']);
  });
});
