import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { resolveRaftConfig, type RaftConfig } from '../../src/core/config.ts';
import { PaperCluster, appendEntries, entriesOfTerms, isMessage } from './harness.ts';

let cluster: PaperCluster;
afterEach(() => cluster?.stop());

describe('election (§5.2)', () => {
  it('starts every server as a follower (§5.2)', () => {
    cluster = PaperCluster.started(3);
    for (const id of cluster.ids) expect(cluster.role(id)).toBe('follower');
    for (const id of cluster.ids) expect(cluster.context(id).currentTerm).toBe(0);
    // Reference: section 5.2
  });

  it('makes a follower that hears nothing start an election: new term, self-vote synced, RequestVote to all (§5.2)', () => {
    cluster = PaperCluster.started(3);
    cluster.holdSyncs('n1');
    cluster.timeout('n1');
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').currentTerm).toBe(1);
    expect(cluster.context('n1').votedFor).toBe('n1');
    expect(cluster.inFlight).toEqual([]);
    cluster.releaseSyncs('n1');
    const requests = cluster.take();
    expect(requests.map((m) => [m.type, m.to, m.term])).toEqual([
      ['rpc.requestVote', 'n2', 1],
      ['rpc.requestVote', 'n3', 1],
    ]);
    // Reference: section 5.2
  });

  it('wins with votes from a majority and sends heartbeats at once (§5.2)', () => {
    cluster = PaperCluster.started(5);
    cluster.timeout('n1');
    cluster.deliver((m) => m.type === 'rpc.requestVote' && (m.to === 'n2' || m.to === 'n3'));
    cluster.take((m) => m.type === 'rpc.requestVote');
    expect(cluster.role('n1')).toBe('candidate');
    cluster.deliver((m) => m.type === 'rpc.requestVote.reply');
    expect(cluster.role('n1')).toBe('leader');
    const appends = cluster.take((m) => m.type === 'rpc.appendEntries');
    expect(appends.map((m) => m.to).sort()).toEqual(['n2', 'n3', 'n4', 'n5']);
    // Reference: section 5.2
  });

  it('refuses a vote to a candidate whose log is less up-to-date (§5.4.1)', () => {
    cluster = new PaperCluster(['n1', 'n2', 'n3']);
    cluster.start('n1', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 1]) });
    cluster.start('n2', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.start('n3', { hardState: { term: 2, votedFor: null }, entries: entriesOfTerms([1, 2]) });
    cluster.timeout('n1');
    cluster.deliverAll();
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n2').votedFor).toBeNull();
    // Reference: section 5.4.1
  });

  it('makes a leader send AppendEntries to every follower every heartbeatIntervalMs, even with nothing new (§5.2)', () => {
    cluster = PaperCluster.started(3);
    cluster.elect('n1');
    const { heartbeatIntervalMs } = cluster.context('n1').config;
    cluster.tick('n1', heartbeatIntervalMs - 1);
    expect(cluster.inFlight).toEqual([]);
    cluster.tick('n1', 1);
    for (let beat = 0; beat < 3; beat++) {
      const beats = cluster.take();
      expect(beats.map((m) => m.type === 'rpc.appendEntries' && [m.to, m.term, m.entries.length, m.leaderCommit])).toEqual([
        ['n2', 1, 0, 1],
        ['n3', 1, 0, 1],
      ]);
      cluster.tick('n1', heartbeatIntervalMs);
    }
    // Reference: section 5.2
  });

  it('makes a candidate that neither wins nor loses start a new election, in a new term, when its timeout passes (§5.2)', () => {
    cluster = PaperCluster.started(3);
    cluster.timeout('n1');
    cluster.take();
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').currentTerm).toBe(1);
    cluster.timeout('n1');
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').currentTerm).toBe(2);
    expect(cluster.context('n1').votedFor).toBe('n1');
    // Term-1 requests were retried while it waited (§5.5); the new election asks everyone in term 2.
    expect(cluster.take().filter((m) => m.term === 2).map((m) => [m.type, m.to, m.term])).toEqual([
      ['rpc.requestVote', 'n2', 2],
      ['rpc.requestVote', 'n3', 2],
    ]);
    // Reference: section 5.2
  });

  it('makes a candidate ask again, every heartbeat interval, each peer that has not answered (§5.5)', () => {
    cluster = PaperCluster.started(3, { config: { electionTimeoutMsMin: 300, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 } });
    cluster.timeout('n1');
    cluster.take();
    cluster.deliver(() => false);
    cluster.send('n2', { type: 'rpc.requestVote', from: 'n3', to: 'n2', term: 1, lastLogIndex: 5, lastLogTerm: 1, transfer: false });
    cluster.take();
    // n2 voted for n3 in term 1, so it denies n1; n3 stays silent.
    cluster.send('n1', { type: 'rpc.requestVote.reply', from: 'n2', to: 'n1', term: 1, voteGranted: false });
    cluster.tick('n1', 50);
    expect(cluster.take().map((m) => [m.type, m.to, m.term])).toEqual([['rpc.requestVote', 'n3', 1]]);
    cluster.tick('n1', 50);
    expect(cluster.take().map((m) => [m.type, m.to, m.term])).toEqual([['rpc.requestVote', 'n3', 1]]);
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.context('n1').currentTerm).toBe(1);
    // Reference: section 5.5
  });

  it('leaves a split vote undecided: both candidates stay candidates until one times out and wins a new term (§5.2)', () => {
    cluster = PaperCluster.started(4);
    cluster.timeout('n1');
    cluster.timeout('n2');
    // n3 hears n1 first and n4 hears n2 first; each candidate ends with 2 of the 3 votes it needs.
    cluster.deliver((m) => m.type === 'rpc.requestVote' && ((m.from === 'n1' && m.to === 'n3') || (m.from === 'n2' && m.to === 'n4')));
    cluster.deliverAll();
    for (const id of ['n1', 'n2']) {
      expect(cluster.role(id)).toBe('candidate');
      expect(cluster.context(id).currentTerm).toBe(1);
      expect(cluster.context(id).votesGranted).toHaveLength(2);
    }
    cluster.timeout('n1');
    expect(cluster.context('n1').currentTerm).toBe(2);
    cluster.deliverAll();
    expect(cluster.role('n1')).toBe('leader');
    expect(cluster.role('n2')).toBe('follower');
    // Reference: section 5.2
  });

  it('makes a candidate that hears AppendEntries from the winner of its term step down and follow it (§5.2)', () => {
    cluster = PaperCluster.started(3);
    cluster.timeout('n1');
    cluster.timeout('n2');
    // n3 hears n2 first: n2 wins term 1 with n3's vote while n1 is still campaigning.
    cluster.deliver((m) => m.type === 'rpc.requestVote' && m.from === 'n2' && m.to === 'n3');
    cluster.deliver(isMessage('rpc.requestVote.reply', 'n2'));
    expect(cluster.role('n2')).toBe('leader');
    expect(cluster.role('n1')).toBe('candidate');
    cluster.deliver(isMessage('rpc.appendEntries', 'n1'));
    expect(cluster.role('n1')).toBe('follower');
    expect(cluster.context('n1').currentTerm).toBe(1);
    expect(cluster.context('n1').leaderId).toBe('n2');
    expect(cluster.logOf('n1')).toBe(cluster.logOf('n2'));
    expect(cluster.take(isMessage('rpc.appendEntries.reply', 'n2'))).toMatchObject([{ from: 'n1', success: true }]);
    // Reference: section 5.2
  });

  it('makes a candidate fall back to a leader whose term is at least its own, and refuse one whose term is older (§5.2)', () => {
    cluster = PaperCluster.started(3);
    cluster.timeout('n1');
    cluster.timeout('n1');
    cluster.take();
    expect(cluster.context('n1').currentTerm).toBe(2);
    cluster.send('n1', appendEntries({ from: 'n3', to: 'n1', term: 1 }));
    expect(cluster.role('n1')).toBe('candidate');
    expect(cluster.take()).toMatchObject([{ type: 'rpc.appendEntries.reply', to: 'n3', term: 2, success: false }]);
    cluster.send('n1', appendEntries({ from: 'n3', to: 'n1', term: 2 }));
    expect(cluster.role('n1')).toBe('follower');
    expect(cluster.context('n1').currentTerm).toBe(2);
    expect(cluster.context('n1').leaderId).toBe('n3');
    expect(cluster.take()).toMatchObject([{ type: 'rpc.appendEntries.reply', to: 'n3', term: 2, success: true }]);
    // Reference: section 5.2
  });

  it('grants at most one vote per term, first come first served; the same candidate asking again gets the same answer (§5.2, §5.5)', () => {
    cluster = PaperCluster.started(3);
    cluster.timeout('n1');
    cluster.timeout('n2');
    const [fromN1] = cluster.take((m) => m.type === 'rpc.requestVote' && m.from === 'n1' && m.to === 'n3');
    const [fromN2] = cluster.take((m) => m.type === 'rpc.requestVote' && m.from === 'n2' && m.to === 'n3');
    const answers = () => cluster.take(isMessage('rpc.requestVote.reply')).map((m) => [m.to, m.term, m.voteGranted]);
    cluster.send('n3', fromN1);
    expect(answers()).toEqual([['n1', 1, true]]);
    cluster.send('n3', fromN2);
    expect(answers()).toEqual([['n2', 1, false]]);
    cluster.send('n3', fromN1);
    expect(answers()).toEqual([['n1', 1, true]]);
    expect(cluster.context('n3').votedFor).toBe('n1');
    // Reference: section 5.2
  });

  it('draws election timeouts at random in [min, max]: different across servers and afresh for every election (§5.2)', () => {
    cluster = PaperCluster.started(5);
    const { electionTimeoutMsMin, electionTimeoutMsMax } = cluster.context('n1').config;
    const inRange = (ms: number) => ms >= electionTimeoutMsMin && ms <= electionTimeoutMsMax;
    const acrossServers = cluster.ids.map((id) => cluster.context(id).electionTimeoutMs);
    expect(acrossServers.every(inRange)).toBe(true);
    expect(new Set(acrossServers).size).toBe(cluster.ids.length);

    const acrossElections: number[] = [];
    for (let election = 0; election < 5; election++) {
      const drawn = cluster.context('n1').electionTimeoutMs;
      acrossElections.push(drawn);
      // The timer runs on the drawn value: nothing at drawn - 1 ms, an election at drawn ms.
      const term = cluster.context('n1').currentTerm;
      cluster.tick('n1', drawn - 1);
      expect(cluster.context('n1').currentTerm).toBe(term);
      cluster.tick('n1', 1);
      expect(cluster.context('n1').currentTerm).toBe(term + 1);
      cluster.take();
    }
    expect(acrossElections.every(inRange)).toBe(true);
    expect(new Set(acrossElections).size).toBe(acrossElections.length);
    // Reference: section 5.2
  });

  it('refuses a heartbeat interval above half the minimum election timeout, with code InvalidOptions (§5.6)', () => {
    const thrown = (run: () => unknown): unknown => {
      try {
        run();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(thrown(() => resolveRaftConfig({ electionTimeoutMsMin: 150, heartbeatIntervalMs: 76 }))).toMatchObject({
      code: 'InvalidOptions',
      details: { option: 'heartbeatIntervalMs' },
    });
    expect(resolveRaftConfig({ electionTimeoutMsMin: 150, heartbeatIntervalMs: 75 }).heartbeatIntervalMs).toBe(75);

    // The chart refuses to start with such a configuration.
    const actor = createActor(raftServerMachine, {
      input: { id: 'n1', servers: ['n1'], randomSeed: 1, config: { electionTimeoutMsMin: 150, heartbeatIntervalMs: 76 } },
    });
    let startError: unknown;
    actor.subscribe({ error: (error) => (startError = error) });
    actor.start();
    expect(actor.getSnapshot().status).toBe('error');
    expect(startError).toMatchObject({ code: 'InvalidOptions' });
    actor.stop();
    // Reference: section 5.6
  });
});

describe('CheckQuorum (etcd-io/raft, hashicorp/raft; beyond the paper)', () => {
  const timing = { electionTimeoutMsMin: 200, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50 };
  /** Heartbeats of a minimum election timeout: 200 / 50. */
  const beatsPerCheck = 4;

  /** Starts `n` servers with `config` on top of the timing and makes n1 leader; nothing left in flight. */
  function leaderOf(n: number, config: Partial<RaftConfig> = {}): void {
    cluster = PaperCluster.started(n, { config: { ...timing, checkQuorum: true, ...config } });
    cluster.elect('n1');
    cluster.take();
  }

  /** Ticks the leader `beats` heartbeats; each time only the followers in `answering` get and answer its AppendEntries. */
  function beat(leader: string, beats: number, answering: readonly string[]): void {
    cluster.beat(leader, beats, answering, timing.heartbeatIntervalMs);
  }

  it('makes a leader that no majority answered for a minimum election timeout step down, in the same term', () => {
    leaderOf(3);
    const term = cluster.context('n1').currentTerm;
    // The last check counted the election's answers; the next one sees nobody answer.
    beat('n1', beatsPerCheck, []);
    beat('n1', beatsPerCheck - 1, []);
    expect(cluster.role('n1')).toBe('leader');
    beat('n1', 1, []);
    expect(cluster.role('n1')).toBe('follower');
    expect(cluster.context('n1')).toMatchObject({ currentTerm: term, leaderId: null });
    expect(cluster.propose('n1', 'late')).toMatchObject({ isLeader: false });
  });

  it('keeps a leader that a majority (itself and one of two) answers, check after check', () => {
    leaderOf(3);
    beat('n1', beatsPerCheck * 5, ['n2']);
    expect(cluster.role('n1')).toBe('leader');
  });

  it('steps down in five servers when only one follower answers (two of five)', () => {
    leaderOf(5);
    beat('n1', beatsPerCheck * 2, ['n2']);
    expect(cluster.role('n1')).toBe('follower');
  });

  it('never steps down with checkQuorum off, nor alone in a one-server cluster', () => {
    leaderOf(3, { checkQuorum: false });
    beat('n1', beatsPerCheck * 5, []);
    expect(cluster.role('n1')).toBe('leader');
    cluster.stop();
    leaderOf(1);
    beat('n1', beatsPerCheck * 5, []);
    expect(cluster.role('n1')).toBe('leader');
  });
});
