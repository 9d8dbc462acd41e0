import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/core/raft-log.ts';
import type { Entry } from '../../src/protocol/types.ts';
import { InvariantChecker, InvariantViolation, type ServerView } from '../../src/sim/invariants.ts';
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
});
