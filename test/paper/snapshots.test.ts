import { afterEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../src/core/crc32c.ts';
import type { InstallSnapshot, InstallSnapshotReply, RaftMessage } from '../../src/protocol/messages.ts';
import { PaperCluster, appendEntries, entriesOfTerms, installSnapshot, isMessage } from './harness.ts';

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

/** The state a CommandListMachine snapshot holds: these commands. */
function stateBytes(commands: readonly string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(commands));
}

/** A whole, checksummed snapshot of `commands` at (index, term), in one InstallSnapshot from n1. */
function wholeSnapshot(to: string, term: number, index: number, lastTerm: number, commands: readonly string[]): InstallSnapshot {
  const data = stateBytes(commands);
  return installSnapshot({ from: 'n1', to, term, lastIncludedIndex: index, lastIncludedTerm: lastTerm, data, totalBytes: data.byteLength, checksum: crc32c(data) });
}

/** Delivers everything in flight except what goes to or comes from `cutOff`, which is lost. */
function deliverAround(cutOff: string): void {
  for (let round = 0; round < 100; round++) {
    cluster.take((m) => m.to === cutOff || m.from === cutOff);
    if (cluster.deliver() === 0) return;
  }
  throw new Error('messages still in flight after 100 rounds');
}

const isSnapshotMessage = (m: RaftMessage): m is InstallSnapshot => m.type === 'rpc.installSnapshot';
const isSnapshotReply = (m: RaftMessage): m is InstallSnapshotReply => m.type === 'rpc.installSnapshot.reply';

// Paper §7 (log compaction), Figure 13 (InstallSnapshot). A snapshot replaces the log up to its
// last included index; it is taken of applied entries only, made durable before the log behind it
// goes, and sent by a leader to a follower that needs entries the leader no longer holds.
describe('snapshots and log compaction (§7, Figure 13)', () => {
  it('snapshots once snapshotEvery entries are applied, and drops the log behind it only once the snapshot is durable (§7)', () => {
    cluster = PaperCluster.started(3, { config: { snapshotEvery: 3, snapshotKeepEntries: 1 } });
    cluster.elect('n1');
    cluster.holdSyncs('n1');
    cluster.propose('n1', 'a', 'b');
    cluster.deliverAll();
    // n2 and n3 hold 1..3 durably: a majority without n1's own sync, so 1..3 commit and apply on n1.
    expect(cluster.context('n1').lastApplied).toBe(3);
    expect(cluster.context('n1').pendingSnapshot?.snapshot.index).toBe(3);
    expect(cluster.context('n1').log.baseIndex).toBe(0);
    cluster.releaseSyncs('n1');
    const context = cluster.context('n1');
    expect({ snapshot: context.snapshot?.index, term: context.snapshot?.term, base: context.log.baseIndex }).toEqual({ snapshot: 3, term: 1, base: 2 });
    expect(JSON.parse(new TextDecoder().decode(context.snapshot?.data))).toEqual(['a', 'b']);
    expect(cluster.disk('n1').recover().snapshot?.index).toBe(3);
    // Reference: section 7
  });

  it('answers a client.snapshot with the snapshot once durable, and with the last one when nothing was applied since (§7)', () => {
    cluster = PaperCluster.started(3, { config: { snapshotEvery: 0 } });
    cluster.elect('n1');
    cluster.propose('n1', 'a');
    cluster.deliverAll();
    expect(cluster.context('n1').snapshot).toBeNull();
    expect(cluster.snapshot('n1')).toMatchObject({ ok: true, index: 2, term: 1 });
    expect(cluster.snapshot('n1')).toMatchObject({ ok: true, index: 2, term: 1 });
    expect(cluster.snapshotAnswers).toHaveLength(2);
    // Reference: section 7
  });

  it('sends a lagging follower the snapshot, which it installs, answering only once durable; AppendEntries follow (§7, Figure 13)', () => {
    cluster = PaperCluster.started(3, { config: { snapshotEvery: 3, snapshotKeepEntries: 0 } });
    cluster.elect('n1');
    cluster.take();
    for (const command of ['a', 'b', 'c', 'd']) {
      cluster.propose('n1', command);
      deliverAround('n3');
    }
    expect(cluster.context('n1').log.baseIndex).toBe(3);
    // n3 comes back: the heartbeat is refused (its log is empty), and the leader no longer holds entry 1.
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliver(isMessage('rpc.appendEntries', 'n3'));
    cluster.holdSyncs('n3');
    cluster.deliver((m) => m.to === 'n1');
    const [sent] = cluster.take(isSnapshotMessage);
    expect(sent).toMatchObject({ to: 'n3', lastIncludedIndex: 3, lastIncludedTerm: 1, offset: 0, done: true });
    cluster.send('n3', sent);
    expect(cluster.restored.get('n3')?.map((s) => s.index)).toEqual([3]);
    expect(cluster.stateOf('n3')).toEqual(['a', 'b']);
    expect(cluster.take(isSnapshotReply)).toEqual([]);
    cluster.releaseSyncs('n3');
    const [reply] = cluster.take(isSnapshotReply);
    expect(reply).toMatchObject({ from: 'n3', installed: true, matchIndex: 3 });
    cluster.send('n1', reply);
    cluster.deliverAll();
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliverAll();
    expect(cluster.stateOf('n3')).toEqual(cluster.stateOf('n1'));
    expect(cluster.context('n3').log.lastIndex).toBe(cluster.context('n1').log.lastIndex);
    // Reference: section 7, Figure 13
  });

  it('sends the snapshot in chunks of snapshotChunkBytesMax, one chunk in flight per follower (§7)', () => {
    cluster = PaperCluster.started(3, { config: { snapshotEvery: 3, snapshotKeepEntries: 0, snapshotChunkBytesMax: 4 } });
    cluster.elect('n1');
    cluster.take();
    for (const command of ['alpha', 'beta', 'gamma']) {
      cluster.propose('n1', command);
      deliverAround('n3');
    }
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliver(isMessage('rpc.appendEntries', 'n3'));
    cluster.deliver((m) => m.to === 'n1');
    let chunks = 0;
    for (let step = 0; step < 50 && !cluster.restored.get('n3')?.length; step++) {
      const inFlight = cluster.take(isSnapshotMessage);
      expect(inFlight).toHaveLength(1);
      expect(inFlight[0].data.byteLength).toBeLessThanOrEqual(4);
      // A proposal replicates to everyone, but n3 gets no second chunk while one is unanswered.
      cluster.propose('n1', `p${step}`);
      expect(cluster.take(isSnapshotMessage)).toEqual([]);
      chunks++;
      cluster.send('n3', inFlight[0]);
      cluster.deliver((m) => m.to === 'n1');
    }
    expect(chunks).toBe(Math.ceil(stateBytes(['alpha', 'beta']).byteLength / 4));
    expect(cluster.stateOf('n3')).toEqual(['alpha', 'beta']);
    expect(cluster.restored.get('n3')?.map((snapshot) => snapshot.index)).toEqual([3]);
    // Reference: section 7
  });

  it('keeps the entries that follow a matching last included entry, and discards the rest of the log before it (Figure 13, step 6)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n2', { hardState: { term: 1, votedFor: null }, entries: entriesOfTerms([1, 1, 1, 1]) });
    cluster.send('n2', wholeSnapshot('n2', 1, 2, 1, ['x', 'y']));
    const context = cluster.context('n2');
    expect({ base: context.log.baseIndex, last: context.log.lastIndex, applied: context.lastApplied }).toEqual({ base: 2, last: 4, applied: 2 });
    expect(cluster.logOf('n2')).toBe('3:1 4:1');
    expect(cluster.stateOf('n2')).toEqual(['x', 'y']);
    expect(cluster.take(isSnapshotReply)).toMatchObject([{ installed: true, matchIndex: 2 }]);
    expect(cluster.durableLogOf('n2')).toBe('3:1 4:1');
    // Reference: Figure 13
  });

  it('discards the whole log when no entry matches the last included one (Figure 13, step 7)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 1, 2, 2]) });
    cluster.send('n2', wholeSnapshot('n2', 3, 3, 3, ['x']));
    expect({ base: cluster.context('n2').log.baseIndex, last: cluster.context('n2').log.lastIndex }).toEqual({ base: 3, last: 3 });
    expect(cluster.durableLogOf('n2')).toBe('');
    expect(cluster.disk('n2').recover().snapshot).toMatchObject({ index: 3, term: 3 });
    // Reference: Figure 13
  });

  it('ignores a snapshot of entries it has committed already, and says how far its log agrees (§7)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n2', { hardState: { term: 1, votedFor: null }, entries: entriesOfTerms([1, 1, 1, 1]) });
    cluster.send('n2', appendEntries({ from: 'n1', to: 'n2', term: 1, prevLogIndex: 4, prevLogTerm: 1, leaderCommit: 4 }));
    cluster.take();
    cluster.send('n2', wholeSnapshot('n2', 1, 2, 1, ['x', 'y']));
    expect(cluster.restored.get('n2')).toEqual([]);
    expect(cluster.context('n2').log.baseIndex).toBe(0);
    expect(cluster.take(isSnapshotReply)).toMatchObject([{ installed: true, matchIndex: 4 }]);
    // Reference: section 7
  });

  it('asks for the chunk at the offset it holds when one comes out of order, and starts over when the whole fails its checksum (§7)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n2');
    const data = stateBytes(['x', 'y', 'z']);
    const chunk = (offset: number, end: number, checksum = crc32c(data)) =>
      installSnapshot({ from: 'n1', to: 'n2', term: 1, lastIncludedIndex: 3, data: data.subarray(offset, end), offset, done: end === data.byteLength, totalBytes: data.byteLength, checksum });
    cluster.send('n2', chunk(4, 8));
    expect(cluster.take(isSnapshotReply)).toMatchObject([{ offset: 0, installed: false }]);
    cluster.send('n2', chunk(0, 4));
    expect(cluster.take(isSnapshotReply)).toMatchObject([{ offset: 4, installed: false }]);
    cluster.send('n2', chunk(4, data.byteLength, 12345));
    expect(cluster.take(isSnapshotReply)).toMatchObject([{ offset: 0, installed: false }]);
    expect(cluster.restored.get('n2')).toEqual([]);
    cluster.send('n2', chunk(0, 4));
    cluster.send('n2', chunk(4, data.byteLength));
    expect(cluster.take(isSnapshotReply).at(-1)).toMatchObject({ installed: true, matchIndex: 3 });
    expect(cluster.stateOf('n2')).toEqual(['x', 'y', 'z']);
    // Reference: section 7
  });

  it('restarts from its snapshot: the state machine is restored first, then the entries after it apply (§7)', () => {
    cluster = PaperCluster.started(3, { config: { snapshotEvery: 3, snapshotKeepEntries: 0 } });
    cluster.elect('n1');
    cluster.propose('n1', 'a', 'b', 'c');
    cluster.deliverAll();
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliverAll();
    // Entries 1..4 applied in one run: the snapshot falls due at 3 (snapshotEvery), inside it.
    expect(cluster.context('n2').snapshot?.index).toBe(3);
    cluster.crash('n2');
    cluster.start('n2');
    expect(cluster.restored.get('n2')?.map((s) => s.index)).toEqual([3]);
    expect(cluster.stateOf('n2')).toEqual(['a', 'b']);
    expect({ commit: cluster.context('n2').commitIndex, applied: cluster.context('n2').lastApplied }).toEqual({ commit: 3, applied: 3 });
    cluster.propose('n1', 'd');
    cluster.deliverAll();
    cluster.tick('n1', cluster.context('n1').config.heartbeatIntervalMs);
    cluster.deliverAll();
    expect(cluster.stateOf('n2')).toEqual(['a', 'b', 'c', 'd']);
    // Reference: section 7
  });
});
