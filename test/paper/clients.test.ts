import { afterEach, describe, expect, it } from 'vitest';
import { readRoundsAheadMax } from '../../machines/raft-server.machine.ts';
import type { RaftConfig } from '../../src/core/config.ts';
import { PaperCluster, appendEntries, appendEntriesReply, entriesOfTerms, isMessage, requestVote } from './harness.ts';

/**
 * The dissertation's additions for clients and availability, on the chart through the paper
 * harness: PreVote (§9.6), CheckQuorum's vote ignoring (§4.2.3), leader transfer (§3.10), ReadIndex
 * and lease reads (§6.4). Timings are explicit: a minimum election timeout of four heartbeats.
 */
const timing = { electionTimeoutMsMin: 200, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 };

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

/** `n` servers with PreVote and CheckQuorum on (the defaults outside the paper harness), plus `config`. */
function started(n: number, config: Partial<RaftConfig> = {}): PaperCluster {
  cluster = PaperCluster.started(n, { config: { ...timing, preVote: true, checkQuorum: true, ...config } });
  return cluster;
}

/** Ticks `leader` `beats` heartbeats; each time only the followers in `answering` get and answer its AppendEntries. */
function beat(leader: string, beats: number, answering: readonly string[]): void {
  cluster.beat(leader, beats, answering, timing.heartbeatIntervalMs);
}

describe('PreVote (§9.6)', () => {
  it('makes a follower whose timer fires ask for pre-votes in term + 1, changing nothing durable', () => {
    started(3);
    cluster.timeout('n1');
    expect(cluster.role('n1')).toBe('preCandidate');
    expect(cluster.context('n1')).toMatchObject({ currentTerm: 0, votedFor: null });
    expect(cluster.disk('n1').recover().hardState).toEqual({ term: 0, votedFor: null });
    const asks = cluster.take();
    expect(asks.map((m) => [m.type, m.to, m.term])).toEqual([
      ['rpc.preVote', 'n2', 1],
      ['rpc.preVote', 'n3', 1],
    ]);
    // A voter grants it and changes nothing: not its term, not its vote.
    cluster.send('n2', asks[0]);
    const [reply] = cluster.take(isMessage('rpc.preVote.reply'));
    expect(reply).toMatchObject({ from: 'n2', to: 'n1', term: 1, voteGranted: true });
    expect(cluster.context('n2')).toMatchObject({ currentTerm: 0, votedFor: null });
    expect(cluster.disk('n2').recover().hardState).toEqual({ term: 0, votedFor: null });
    // A majority (itself and n2) would vote: only now does it raise its term and stand.
    cluster.send('n1', reply);
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').currentTerm).toBe(1);
    cluster.deliverAll();
    expect(cluster.role('n1')).toBe('leader');
    // Reference: dissertation section 9.6
  });

  it('denies a pre-vote to a candidate whose log is behind, with the voter\'s own term', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3'], { config: { ...timing, preVote: true } });
    cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1]) });
    cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.timeout('n1');
    cluster.deliver(isMessage('rpc.preVote', 'n2'));
    expect(cluster.take(isMessage('rpc.preVote.reply'))).toEqual([{ type: 'rpc.preVote.reply', from: 'n2', to: 'n1', term: 2, voteGranted: false }]);
    expect(cluster.context('n2')).toMatchObject({ currentTerm: 2, votedFor: null });
    // Reference: dissertation section 9.6
  });

  it('keeps the term of a server cut off from the majority, which cannot unseat the leader when it returns', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    const term = cluster.context('n1').currentTerm;
    // n3 is cut off: its timer fires again and again, its pre-votes are lost.
    for (let i = 0; i < 5; i++) {
      cluster.timeout('n3');
      cluster.take((m) => m.from === 'n3');
    }
    expect(cluster.role('n3')).toBe('preCandidate');
    expect(cluster.context('n3').currentTerm).toBe(term);
    // It returns: n2 heard from the leader within a minimum election timeout, and n1 is the leader; both deny.
    cluster.timeout('n3');
    cluster.deliver((m) => m.type === 'rpc.preVote');
    // (A pre-candidate asks again each heartbeat interval: several asks, the same answers.)
    const replies = cluster.take(isMessage('rpc.preVote.reply'));
    expect(new Set(replies.map((r) => `${r.from}:${r.voteGranted}`))).toEqual(new Set(['n1:false', 'n2:false']));
    for (const reply of replies) cluster.send('n3', reply);
    expect(cluster.role('n3')).toBe('preCandidate');
    expect(cluster.context('n3').currentTerm).toBe(term);
    expect(cluster.role('n1')).toBe('leader');
    // The leader's next heartbeat brings it back as a follower, in the same term.
    beat('n1', 1, ['n3']);
    expect(cluster.role('n3')).toBe('follower');
    expect(cluster.context('n3')).toMatchObject({ currentTerm: term, leaderId: 'n1' });
    // Reference: dissertation section 9.6
  });

  it('grants a pre-vote once a minimum election timeout passed without hearing a leader', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    cluster.crash('n1');
    cluster.tick('n2', timing.electionTimeoutMsMin - 1);
    cluster.timeout('n3');
    cluster.deliver(isMessage('rpc.preVote', 'n2'));
    expect(cluster.take(isMessage('rpc.preVote.reply')).map((r) => r.voteGranted)).not.toContain(true);
    cluster.tick('n2', 1);
    cluster.timeout('n3');
    cluster.take(isMessage('rpc.preVote', 'n1'));
    cluster.deliver(isMessage('rpc.preVote', 'n2'));
    expect(cluster.take(isMessage('rpc.preVote.reply')).map((r) => r.voteGranted)).toContain(true);
    // Reference: dissertation section 9.6
  });
});

describe('CheckQuorum vote ignoring (§4.2.3)', () => {
  it('ignores a RequestVote of a higher term while it hears from a leader, and answers it after a minimum election timeout of silence', () => {
    started(3, { preVote: false });
    cluster.elect('n1');
    cluster.take();
    const vote = requestVote({ from: 'n3', to: 'n2', term: 5, lastLogIndex: 1, lastLogTerm: 1 });
    cluster.send('n2', vote);
    expect(cluster.take()).toEqual([]);
    expect(cluster.context('n2')).toMatchObject({ currentTerm: 1, votedFor: 'n1', leaderId: 'n1' });
    cluster.tick('n2', timing.electionTimeoutMsMin);
    cluster.take((m) => m.from === 'n2');
    cluster.send('n2', vote);
    expect(cluster.take(isMessage('rpc.requestVote.reply'))).toMatchObject([{ from: 'n2', term: 5, voteGranted: true }]);
    // Reference: dissertation section 4.2.3
  });

  it('answers an election the leader asked for (transfer: true) at once', () => {
    started(3, { preVote: false });
    cluster.elect('n1');
    cluster.take();
    cluster.send('n2', requestVote({ from: 'n3', to: 'n2', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: true }));
    expect(cluster.take(isMessage('rpc.requestVote.reply'))).toMatchObject([{ from: 'n2', term: 2, voteGranted: true }]);
    // Reference: dissertation sections 3.10 and 4.2.3
  });
});

describe('leader transfer (§3.10)', () => {
  it('hands over to a follower that holds the whole log: TimeoutNow at once, and the target stands without waiting', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    const answer = cluster.transfer('n1', 'n2');
    expect(answer()).toMatchObject({ outcome: 'handedOver', leaderId: 'n1' });
    const [timeoutNow] = cluster.take(isMessage('rpc.timeoutNow'));
    expect(timeoutNow).toEqual({ type: 'rpc.timeoutNow', from: 'n1', to: 'n2', term: 1 });
    cluster.send('n2', timeoutNow);
    expect(cluster.role('n2')).toBe('candidate');
    expect(cluster.context('n2').currentTerm).toBe(2);
    const requests = cluster.take(isMessage('rpc.requestVote'));
    expect(requests.map((r) => [r.to, r.transfer])).toEqual([
      ['n1', true],
      ['n3', true],
    ]);
    // n3 still hears from n1, but answers an election the leader asked for.
    for (const request of requests) cluster.send(request.to, request);
    cluster.deliverAll();
    expect(cluster.role('n2')).toBe('leader');
    expect(cluster.role('n1')).toBe('follower');
    // Reference: dissertation section 3.10
  });

  it('refuses proposals while the target catches up, naming it, and sends TimeoutNow once it holds the whole log', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    cluster.propose('n1', 'a');
    cluster.deliver(isMessage('rpc.appendEntries', 'n3'));
    cluster.deliver(isMessage('rpc.appendEntries.reply', 'n1'));
    cluster.take(isMessage('rpc.appendEntries', 'n2'));
    const answer = cluster.transfer('n1', 'n2');
    expect(answer()).toBeNull();
    expect(cluster.propose('n1', 'refused')).toMatchObject({ isLeader: false, leaderId: 'n2' });
    cluster.deliver(isMessage('rpc.appendEntries', 'n2'));
    expect(cluster.take(isMessage('rpc.timeoutNow'))).toEqual([]);
    // The leader backs up nextIndex for n2 (it sent 'a' optimistically) until n2 holds the log.
    const toOrFromN2 = (m: { type: string; to: string; from: string }) => m.type !== 'rpc.timeoutNow' && (m.to === 'n2' || m.from === 'n2');
    for (let beats = 0; beats < 4 && cluster.logOf('n2') !== cluster.logOf('n1'); beats++) {
      cluster.deliverAll(10, toOrFromN2);
      if (cluster.logOf('n2') !== cluster.logOf('n1')) cluster.tick('n1', timing.heartbeatIntervalMs);
    }
    cluster.deliverAll(10, toOrFromN2);
    expect(cluster.logOf('n2')).toBe(cluster.logOf('n1'));
    expect(cluster.take(isMessage('rpc.timeoutNow'))).toMatchObject([{ to: 'n2', term: 1 }]);
    expect(answer()).toMatchObject({ outcome: 'handedOver' });
    // Reference: dissertation section 3.10
  });

  it('gives up after an election timeout when the target does not take over, and takes proposals again', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    cluster.transfer('n1', 'n2');
    cluster.take(isMessage('rpc.timeoutNow'));
    cluster.crash('n2');
    expect(cluster.propose('n1', 'refused').isLeader).toBe(false);
    beat('n1', timing.electionTimeoutMsMax / timing.heartbeatIntervalMs, ['n3']);
    expect(cluster.transferAnswers.map((a) => a.outcome)).toEqual(['handedOver', 'timedOut']);
    expect(cluster.role('n1')).toBe('leader');
    expect(cluster.propose('n1', 'taken').isLeader).toBe(true);
    // Reference: dissertation section 3.10
  });

  it('answers a transfer it cannot make: to an unknown server, to itself, while one is under way, or on a follower', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    expect(cluster.transfer('n1', 'n9')()).toMatchObject({ outcome: 'unknownServer' });
    expect(cluster.transfer('n1', 'n1')()).toMatchObject({ outcome: 'alreadyLeader' });
    expect(cluster.transfer('n2', 'n3')()).toMatchObject({ outcome: 'notLeader', leaderId: 'n1' });
    cluster.take(isMessage('rpc.appendEntries', 'n3'));
    cluster.propose('n1', 'a');
    cluster.take(isMessage('rpc.appendEntries', 'n3'));
    cluster.transfer('n1', 'n3');
    expect(cluster.transfer('n1', 'n2')()).toMatchObject({ outcome: 'busy' });
    expect(cluster.role('n1')).toBe('leader');
    // Reference: dissertation section 3.10
  });
});

describe('ReadIndex reads (§6.4)', () => {
  it('answers a read once a majority answered a heartbeat round begun after it, at the commit index', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    const read = cluster.read('n1');
    expect(read()).toBeNull();
    const beats = cluster.take(isMessage('rpc.appendEntries'));
    expect(beats.map((m) => m.to)).toEqual(['n2', 'n3']);
    const round = beats[0].round;
    expect(beats[1].round).toBe(round);
    // An answer to an earlier round does not confirm leadership for this read.
    cluster.send('n1', appendEntriesReply({ from: 'n2', to: 'n1', term: 1, prevLogIndex: 1, matchIndex: 1, round: round - 1 }));
    expect(read()).toBeNull();
    cluster.send('n2', beats[0]);
    cluster.deliver(isMessage('rpc.appendEntries.reply', 'n1'));
    expect(read()).toEqual({ type: 'client.readReady', requestId: expect.any(Number), ok: true, index: 1, term: 1, leaderId: 'n1' });
    // Nothing was appended for the read.
    expect(cluster.logOf('n1')).toBe('1:1');
    // Reference: dissertation section 6.4
  });

  it('confirms reads that come while a round is out with a round of their own, begun at once (pipelined)', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    const first = cluster.read('n1');
    const firstRound = cluster.take(isMessage('rpc.appendEntries'));
    expect(firstRound.map((m) => m.to)).toEqual(['n2', 'n3']);
    // It comes after the first round went out: that round's answers cannot show n1 still led when it came.
    const later = cluster.read('n1');
    const secondRound = cluster.take(isMessage('rpc.appendEntries'));
    expect(secondRound.map((m) => [m.to, m.round])).toEqual([
      ['n2', firstRound[0].round + 1],
      ['n3', firstRound[0].round + 1],
    ]);
    const ack = (round: number) => appendEntriesReply({ from: 'n3', to: 'n1', term: 1, prevLogIndex: 1, matchIndex: 1, round });
    cluster.send('n1', ack(firstRound[0].round));
    expect(first()?.ok).toBe(true);
    expect(later()).toBeNull();
    cluster.send('n1', ack(secondRound[0].round));
    expect(later()?.ok).toBe(true);
    // Reference: dissertation section 6.4
  });

  it('keeps at most readRoundsAheadMax rounds out for reads; the reads after them share the next', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    const reads = Array.from({ length: readRoundsAheadMax + 3 }, () => cluster.read('n1'));
    const rounds = new Set(cluster.take(isMessage('rpc.appendEntries')).map((m) => m.round));
    expect(rounds.size).toBe(readRoundsAheadMax);
    const ack = (round: number) => appendEntriesReply({ from: 'n3', to: 'n1', term: 1, prevLogIndex: 1, matchIndex: 1, round });
    cluster.send('n1', ack(Math.max(...rounds)));
    expect(reads.slice(0, readRoundsAheadMax).every((r) => r()?.ok === true)).toBe(true);
    expect(reads.slice(readRoundsAheadMax).map((r) => r())).toEqual([null, null, null]);
    // One more round for the three that waited.
    const next = cluster.take(isMessage('rpc.appendEntries'));
    expect(new Set(next.map((m) => m.round)).size).toBe(1);
    cluster.send('n1', ack(next[0].round));
    expect(reads.every((r) => r()?.ok === true)).toBe(true);
    // Reference: dissertation section 6.4
  });

  it('waits for its term\'s no-op to commit and be applied before a new leader answers', () => {
    started(3);
    cluster.timeout('n1');
    cluster.deliverAll(100, (m) => m.type !== 'rpc.appendEntries');
    expect(cluster.role('n1')).toBe('leader');
    expect(cluster.context('n1').commitIndex).toBe(0);
    const read = cluster.read('n1');
    cluster.deliverAll(100, (m) => m.type !== 'rpc.appendEntries' || m.entries.length === 0);
    expect(read()).toBeNull();
    cluster.deliverAll();
    expect(read()).toMatchObject({ ok: true, index: 1 });
    expect(cluster.context('n1').lastApplied).toBeGreaterThanOrEqual(1);
    // Reference: dissertation section 6.4 (and paper section 8)
  });

  it('refuses a read on a follower, naming the leader, and refuses waiting reads when leadership ends', () => {
    started(3);
    cluster.elect('n1');
    cluster.take();
    expect(cluster.read('n2')()).toMatchObject({ ok: false, leaderId: 'n1' });
    const read = cluster.read('n1');
    cluster.take();
    cluster.send('n1', appendEntries({ from: 'n3', to: 'n1', term: 5, prevLogIndex: 1, prevLogTerm: 1 }));
    expect(cluster.role('n1')).toBe('follower');
    expect(read()).toMatchObject({ ok: false, leaderId: null });
    // Reference: dissertation section 6.4
  });
});

describe("lease reads (readMode 'lease', §6.4.1)", () => {
  /** Lets the followers' restart guard lapse (in lease mode a server starts as if it had just heard a leader), then elects n1. */
  function leaseLeader(): void {
    started(3, { readMode: 'lease' });
    for (const id of ['n2', 'n3']) cluster.tick(id, timing.electionTimeoutMsMin);
    cluster.take();
    cluster.elect('n1');
    cluster.take();
  }

  it('answers at once, with no message, while a majority answered within the lease', () => {
    leaseLeader();
    const read = cluster.read('n1');
    expect(read()).toMatchObject({ ok: true, index: 1 });
    expect(cluster.take()).toEqual([]);
    // Reference: dissertation section 6.4.1
  });

  it('needs a round once the lease ran out: a minimum election timeout less the drift bound without a majority', () => {
    leaseLeader();
    // leaseTicks = floor(200 × 0.9 / 50) − 1 = 2 heartbeats past the last answered round.
    beat('n1', 2, []);
    expect(cluster.read('n1')()).toMatchObject({ ok: true });
    beat('n1', 1, []);
    const read = cluster.read('n1');
    expect(read()).toBeNull();
    // It starts a round of its own at once, and is answered once a majority answers it.
    const beats = cluster.take(isMessage('rpc.appendEntries'));
    expect(beats.map((m) => m.to)).toEqual(['n2', 'n3']);
    cluster.send('n2', beats[0]);
    cluster.deliver(isMessage('rpc.appendEntries.reply', 'n1'));
    expect(read()).toMatchObject({ ok: true });
    // Reference: dissertation section 6.4.1
  });

  it('holds no lease while it hands leadership over', () => {
    leaseLeader();
    cluster.propose('n1', 'a');
    cluster.take();
    cluster.transfer('n1', 'n2');
    cluster.take();
    expect(cluster.read('n1')()).toBeNull();
    // Reference: dissertation sections 3.10 and 6.4.1
  });

  it('holds no lease for the rest of a term in which it sent TimeoutNow, even once the transfer timed out: a late TimeoutNow can still start an election', () => {
    leaseLeader();
    cluster.transfer('n1', 'n2');
    cluster.take(isMessage('rpc.timeoutNow'));
    beat('n1', timing.electionTimeoutMsMax / timing.heartbeatIntervalMs, ['n2', 'n3']);
    expect(cluster.transferAnswers.map((a) => a.outcome)).toEqual(['handedOver', 'timedOut']);
    expect(cluster.read('n1')()).toBeNull();
    // Reference: dissertation sections 3.10 and 6.4.1
  });

  it('starts a lease-mode server ignoring elections for a minimum election timeout: it may have answered a leader just before it crashed', () => {
    started(3, { readMode: 'lease', preVote: false });
    cluster.send('n2', requestVote({ from: 'n3', to: 'n2', term: 1 }));
    expect(cluster.take()).toEqual([]);
    cluster.tick('n2', timing.electionTimeoutMsMin);
    cluster.take();
    cluster.send('n2', requestVote({ from: 'n3', to: 'n2', term: 9 }));
    expect(cluster.take(isMessage('rpc.requestVote.reply'))).toMatchObject([{ voteGranted: true }]);
    // Reference: dissertation section 6.4.1
  });
});
