import { describe, expect, it } from 'vitest';
import { initialProgress, onSnapshotReply, planSnapshotChunk, startSnapshot } from '../../src/core/progress.ts';

describe('snapshot transfer flow control (§7)', () => {
  it('keeps one chunk in flight: a duplicated reply sends no second chunk', () => {
    const progress = initialProgress(10);
    startSnapshot(progress, { index: 5, term: 1, servers: ['n1'], data: new Uint8Array(10) }, 0);
    expect(planSnapshotChunk(progress, 2, false)?.offset).toBe(0);
    expect(onSnapshotReply(progress, 5, false, 2, 0)).toBe('continue');
    expect(planSnapshotChunk(progress, 2, false)?.offset).toBe(2);
    // The same reply again (the network duplicated it): the chunk from 2 is already on its way.
    expect(onSnapshotReply(progress, 5, false, 2, 0)).toBe('ignored');
    expect(planSnapshotChunk(progress, 2, false)).toBeNull();
    // The heartbeat resends it, and the next answer moves on.
    expect(planSnapshotChunk(progress, 2, true)?.offset).toBe(2);
    expect(onSnapshotReply(progress, 5, false, 4, 0)).toBe('continue');
    // A follower that starts over (it lost what it held) is answered from 0.
    planSnapshotChunk(progress, 2, false);
    expect(onSnapshotReply(progress, 5, false, 0, 0)).toBe('continue');
    expect(planSnapshotChunk(progress, 2, false)?.offset).toBe(0);
  });
});
