import type { RaftLog } from '../core/raft-log.ts';
import { quorumSize } from '../core/vote.ts';
import type { Entry, NodeId } from '../protocol/types.ts';
import type { VirtualDisk } from './virtual-disk.ts';

/** The safety properties of §5 (Figure 3) and the two the simulator adds. */
export type InvariantName =
  | 'Election Safety'
  | 'Leader Append-Only'
  | 'Log Matching'
  | 'Leader Completeness'
  | 'State Machine Safety'
  | 'Durability'
  | 'Liveness'
  | 'Assertion';

/** Thrown by the checker to stop a run at the first broken property. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: InvariantName,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** What the checker may look at of one server after a step. */
export interface ServerView {
  readonly id: NodeId;
  /** Bumped on every restart: a new incarnation starts a new log view and applies from index 1. */
  readonly incarnation: number;
  readonly alive: boolean;
  readonly role: string;
  readonly term: number;
  readonly log: RaftLog;
  readonly disk: VirtualDisk;
}

interface Shadow {
  incarnation: number;
  /** The entry objects this incarnation's log held at the last check, by index - 1. */
  entries: Entry[];
  /** The term in which this incarnation has been leader without interruption, or 0. */
  leaderTerm: number;
  appliedIndex: number;
}

/**
 * Checks, incrementally after every step, the properties the paper proves (Figure 3) plus
 * durability. Each check costs O(what changed), so it can run after every event.
 */
export class InvariantChecker {
  private readonly leaders = new Map<number, NodeId>();
  /** (index, term) → the entry and the term before it: Log Matching by induction on the index. */
  private readonly seen = new Map<number, Map<number, { entry: Entry; prevTerm: number }>>();
  /** Committed entries by index - 1, learnt from every apply, with the term in which each was committed. */
  private readonly committed: Entry[] = [];
  private readonly commitTerms: number[] = [];
  private readonly shadows = new Map<NodeId, Shadow>();
  private readonly clusterSize: number;

  constructor(private readonly servers: () => readonly ServerView[]) {
    this.clusterSize = servers().length;
  }

  get committedCount(): number {
    return this.committed.length;
  }

  /** Call after every step: logs, roles and leadership are compared with the last check. */
  afterStep(): void {
    for (const server of this.servers()) {
      if (!server.alive) continue;
      const shadow = this.shadowOf(server);
      this.checkLog(server, shadow);
      this.checkLeadership(server, shadow);
    }
  }

  /** A server applied entries: in order, without gaps, and the same entries as everyone else. */
  onApply(server: ServerView, entries: readonly Entry[]): void {
    const shadow = this.shadowOf(server);
    for (const entry of entries) {
      if (entry.index !== shadow.appliedIndex + 1) {
        fail('State Machine Safety', `${server.id} applied index ${entry.index} after ${shadow.appliedIndex}`);
      }
      shadow.appliedIndex = entry.index;
      const known = this.committed[entry.index - 1];
      if (known === undefined) {
        if (entry.index !== this.committed.length + 1) {
          fail('State Machine Safety', `${server.id} applied ${entry.index} before anyone applied ${this.committed.length + 1}`);
        }
        // The first server to apply an entry is the leader that committed it, in its current term.
        this.committed.push(entry);
        this.commitTerms.push(server.term);
        this.checkLeadersHold(entry, server.term);
      } else if (!sameEntry(known, entry)) {
        fail('State Machine Safety', `${server.id} applied ${describe(entry)} at index ${entry.index}, another server applied ${describe(known)}`);
      }
    }
  }

  /** A client was told `entry` is committed: a majority of disks must hold it durably now. */
  onAcknowledged(entry: Entry): void {
    let copies = 0;
    for (const server of this.servers()) {
      if (server.disk.durableTermAt(entry.index) === entry.term) copies++;
    }
    if (copies < quorumSize(this.clusterSize)) {
      fail('Durability', `client told ${describe(entry)} is committed, but only ${copies} of ${this.clusterSize} disks hold it durably`);
    }
  }

  /** A disk made a truncation durable: no committed entry may be among what it removed. */
  onDurableTruncation(id: NodeId, removed: readonly Entry[]): void {
    for (const entry of removed) {
      const known = this.committed[entry.index - 1];
      if (known !== undefined && sameEntry(known, entry)) {
        fail('Durability', `${id} durably deleted committed entry ${describe(entry)}`);
      }
    }
  }

  private shadowOf(server: ServerView): Shadow {
    let shadow = this.shadows.get(server.id);
    if (shadow === undefined || shadow.incarnation !== server.incarnation) {
      shadow = { incarnation: server.incarnation, entries: [], leaderTerm: 0, appliedIndex: 0 };
      this.shadows.set(server.id, shadow);
    }
    return shadow;
  }

  private checkLog(server: ServerView, shadow: Shadow): void {
    const log = server.log;
    let agreed = Math.min(shadow.entries.length, log.lastIndex);
    // By content: a packed entry comes back as a new object (RaftLog keeps old entries packed).
    while (agreed > 0 && !sameEntry(shadow.entries[agreed - 1], log.entryAt(agreed))) agreed--;
    if (agreed < shadow.entries.length && shadow.leaderTerm !== 0 && server.role === 'leader' && server.term === shadow.leaderTerm) {
      fail('Leader Append-Only', `leader ${server.id} of term ${server.term} lost or replaced entries from index ${agreed + 1}`);
    }
    shadow.entries.length = agreed;
    for (let index = agreed + 1; index <= log.lastIndex; index++) {
      const entry = log.entryAt(index);
      const prevTerm = log.termAt(index - 1) ?? 0;
      let byTerm = this.seen.get(index);
      if (byTerm === undefined) {
        byTerm = new Map();
        this.seen.set(index, byTerm);
      }
      const known = byTerm.get(entry.term);
      if (known === undefined) {
        byTerm.set(entry.term, { entry, prevTerm });
      } else if (!sameEntry(known.entry, entry) || known.prevTerm !== prevTerm) {
        fail('Log Matching', `${server.id} holds ${describe(entry)} after term ${prevTerm}; another log holds ${describe(known.entry)} after term ${known.prevTerm}`);
      }
      shadow.entries.push(entry);
    }
  }

  private checkLeadership(server: ServerView, shadow: Shadow): void {
    if (server.role !== 'leader') {
      shadow.leaderTerm = 0;
      return;
    }
    if (shadow.leaderTerm === server.term) return;
    const other = this.leaders.get(server.term);
    if (other !== undefined && other !== server.id) {
      fail('Election Safety', `${server.id} and ${other} are both leaders of term ${server.term}`);
    }
    this.leaders.set(server.term, server.id);
    shadow.leaderTerm = server.term;
    for (let i = 0; i < this.committed.length; i++) {
      const entry = this.committed[i];
      if (this.commitTerms[i] < server.term && !holds(server.log, entry)) {
        fail('Leader Completeness', `${server.id} became leader of term ${server.term} without committed ${describe(entry)}`);
      }
    }
  }

  /** An entry committed in `commitTerm` must be in the log of every leader of a later term (§5.4.3). */
  private checkLeadersHold(entry: Entry, commitTerm: number): void {
    for (const server of this.servers()) {
      if (!server.alive || server.role !== 'leader' || server.term <= commitTerm) continue;
      const shadow = this.shadows.get(server.id);
      if (shadow === undefined || shadow.leaderTerm !== server.term) continue;
      if (!holds(server.log, entry)) {
        fail('Leader Completeness', `${describe(entry)} committed, but leader ${server.id} of term ${server.term} lacks it`);
      }
    }
  }
}

function holds(log: RaftLog, entry: Entry): boolean {
  return entry.index <= log.lastIndex && sameEntry(log.entryAt(entry.index), entry);
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a === b) return true;
  if (a.index !== b.index || a.term !== b.term || a.kind !== b.kind || a.command.byteLength !== b.command.byteLength) return false;
  for (let i = 0; i < a.command.byteLength; i++) if (a.command[i] !== b.command[i]) return false;
  return true;
}

function describe(entry: Entry): string {
  return `#${entry.index}@t${entry.term}(${entry.kind === 'noop' ? 'noop' : new TextDecoder().decode(entry.command)})`;
}

function fail(invariant: InvariantName, detail: string): never {
  throw new InvariantViolation(invariant, detail);
}
