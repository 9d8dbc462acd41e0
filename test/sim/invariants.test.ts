import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/core/raft-log.ts';
import type { Entry } from '../../src/protocol/types.ts';
import { InvariantChecker, InvariantViolation, type ServerView } from '../../src/sim/invariants.ts';
import { DigestStateMachine } from '../../src/sim/digest-state-machine.ts';
import { VirtualDisk } from '../../src/sim/virtual-disk.ts';

interface FakeServer extends ServerView {
  role: string;
  term: number;
  incarnation: number;
  alive: boolean;
}

function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, kind: 'command', command: new TextEncoder().encode(text) };
}

function setup(n: number): { servers: FakeServer[]; checker: InvariantChecker } {
  const servers: FakeServer[] = Array.from({ length: n }, (_, i) => ({
    id: `n${i + 1}`,
    incarnation: 1,
    alive: true,
    role: 'follower',
    term: 1,
    log: new RaftLog(),
    disk: new VirtualDisk(),
  }));
  return { servers, checker: new InvariantChecker(() => servers) };
}

function violationOf(run: () => void): string {
  try {
    run();
  } catch (error) {
    if (error instanceof InvariantViolation) return error.invariant;
    throw error;
  }
  return 'none';
}

describe('invariant checker', () => {
  it('reports Election Safety when two servers lead one term', () => {
    const { servers, checker } = setup(3);
    servers[0].role = 'leader';
    checker.afterStep();
    servers[1].role = 'leader';
    expect(violationOf(() => checker.afterStep())).toBe('Election Safety');
  });

  it('reports Leader Append-Only when a leader loses an entry', () => {
    const { servers, checker } = setup(3);
    servers[0].role = 'leader';
    servers[0].log.append([entry(1, 1), entry(2, 1)]);
    checker.afterStep();
    servers[0].log.truncateFrom(2);
    expect(violationOf(() => checker.afterStep())).toBe('Leader Append-Only');
  });

  it('reports Log Matching when two logs hold different entries at one index and term', () => {
    const { servers, checker } = setup(3);
    servers[0].log.append([entry(1, 1, 'a')]);
    servers[1].log.append([entry(1, 1, 'b')]);
    expect(violationOf(() => checker.afterStep())).toBe('Log Matching');
  });

  it('reports Log Matching when the same entry follows different histories', () => {
    const { servers, checker } = setup(3);
    const shared = entry(2, 3);
    servers[0].log.append([entry(1, 1), shared]);
    servers[1].log.append([entry(1, 2), shared]);
    expect(violationOf(() => checker.afterStep())).toBe('Log Matching');
  });

  it('reports State Machine Safety for different entries applied at one index, and for gaps', () => {
    const { servers, checker } = setup(3);
    checker.onApply(servers[0], [entry(1, 1, 'a')]);
    expect(violationOf(() => checker.onApply(servers[1], [entry(1, 1, 'b')]))).toBe('State Machine Safety');
    const other = setup(3);
    expect(violationOf(() => other.checker.onApply(other.servers[0], [entry(2, 1)]))).toBe('State Machine Safety');
  });

  it('reports Leader Completeness when a leader of a later term lacks a committed entry', () => {
    const { servers, checker } = setup(3);
    servers[0].role = 'leader';
    servers[0].log.append([entry(1, 1)]);
    checker.afterStep();
    checker.onApply(servers[0], [entry(1, 1)]);
    servers[0].role = 'follower';
    servers[1].role = 'leader';
    servers[1].term = 2;
    expect(violationOf(() => checker.afterStep())).toBe('Leader Completeness');
  });

  it('accepts a leader of an earlier term that lacks an entry committed later (not a violation)', () => {
    const { servers, checker } = setup(3);
    servers[0].role = 'leader';
    servers[0].term = 5;
    servers[0].log.append([entry(1, 1)]);
    checker.onApply(servers[0], [entry(1, 1)]);
    servers[1].role = 'leader';
    servers[1].term = 3;
    expect(violationOf(() => checker.afterStep())).toBe('none');
  });

  it('reports Durability when an acknowledged entry is on fewer than a majority of disks', () => {
    const { servers, checker } = setup(3);
    const e = entry(1, 1);
    servers[0].disk.write([{ type: 'entries', entries: [e] }]);
    servers[0].disk.sync();
    expect(violationOf(() => checker.onAcknowledged(e))).toBe('Durability');
    servers[1].disk.write([{ type: 'entries', entries: [e] }]);
    servers[1].disk.sync();
    expect(violationOf(() => checker.onAcknowledged(e))).toBe('none');
  });

  it('reports Durability when a disk deletes a committed entry', () => {
    const { servers, checker } = setup(3);
    const e = entry(1, 1);
    checker.onApply(servers[0], [e]);
    expect(violationOf(() => checker.onDurableTruncation('n2', [e]))).toBe('Durability');
    expect(violationOf(() => checker.onDurableTruncation('n2', [entry(1, 1, 'other')]))).toBe('none');
  });

  describe('with snapshots (§7)', () => {
    /** n1 applies entries 1..3 (the checker learns them committed) and returns them. */
    function applyThree(servers: FakeServer[], checker: InvariantChecker): Entry[] {
      const applied = [entry(1, 1), entry(2, 1), entry(3, 1)];
      servers[0].log.append(applied);
      checker.onApply(servers[0], applied);
      return applied;
    }

    function digestOf(applied: readonly Entry[]): Uint8Array {
      const machine = new DigestStateMachine();
      for (const e of applied) machine.apply(e);
      return machine.snapshot();
    }

    it('accepts a snapshot that is exactly the committed entries applied, and a restore from it', () => {
      const { servers, checker } = setup(3);
      const applied = applyThree(servers, checker);
      expect(violationOf(() => checker.onSnapshotTaken(servers[0], 3, digestOf(applied)))).toBe('none');
      expect(violationOf(() => checker.onRestore(servers[1], { index: 3, term: 1, servers: [], data: digestOf(applied) }))).toBe('none');
    });

    it('reports State Machine Safety for a snapshot whose state differs from the committed entries', () => {
      const { servers, checker } = setup(3);
      const applied = applyThree(servers, checker);
      const other = digestOf([applied[0], applied[1], entry(3, 1, 'something else')]);
      expect(violationOf(() => checker.onRestore(servers[1], { index: 3, term: 1, servers: [], data: other }))).toBe('State Machine Safety');
    });

    it('reports State Machine Safety for a snapshot labelled past what the server applied', () => {
      const { servers, checker } = setup(3);
      const applied = applyThree(servers, checker);
      expect(violationOf(() => checker.onSnapshotTaken(servers[0], 2, digestOf(applied.slice(0, 2))))).toBe('State Machine Safety');
    });

    it('reports State Machine Safety for a log compacted past its applied index', () => {
      const { servers, checker } = setup(3);
      servers[0].log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
      checker.onApply(servers[0], [entry(1, 1)]);
      servers[0].log.compactThrough(2);
      expect(violationOf(() => checker.afterStep())).toBe('State Machine Safety');
    });

    it('counts an acknowledged entry held by a durable snapshot toward Durability', () => {
      const { servers, checker } = setup(3);
      const applied = applyThree(servers, checker);
      for (const server of servers.slice(0, 2)) {
        server.disk.installSnapshot({ snapshot: { index: 3, term: 1, servers: [], data: digestOf(applied) }, hardState: { term: 1, votedFor: null }, entries: [] });
      }
      expect(violationOf(() => checker.onAcknowledged(applied[1]))).toBe('none');
      const { servers: bare, checker: strict } = setup(3);
      const again = applyThree(bare, strict);
      expect(violationOf(() => strict.onAcknowledged(again[1]))).toBe('Durability');
    });
  });
});
