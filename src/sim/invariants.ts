import type { RaftLog } from '../core/raft-log.ts';
import { quorumSize } from '../core/vote.ts';
import type { Entry, NodeId, Snapshot } from '../protocol/types.ts';
import { decodeDigestSnapshot, digestAfter, digestSeed } from './digest-state-machine.ts';
import type { VirtualDisk } from './virtual-disk.ts';

/** The safety properties of §5 (Figure 3) and the two the simulator adds. */
export type InvariantName =
  | 'Election Safety'
  | 'Leader Append-Only'
  | 'Log Matching'
  | 'Leader Completeness'
  | 'State Machine Safety'
  | 'Durability'
  | 'PreVote'
  | 'Lease Safety'
  | 'One Change at a Time'
  | 'Exactly Once'
  | 'Linearizability'
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
  /** The indexes of the config entries among `entries`, in order. */
  configIndexes: number[];
}

/**
 * Checks, incrementally after every step, the properties the paper proves (Figure 3) plus
 * durability. Each check costs O(what changed), so it can run after every event.
 *
 * With snapshots (§7): a snapshot taken or restored at index i must be the digest of committed
 * entries 1..i (DigestStateMachine), taken by a server that applied exactly that far; entries a
 * log has compacted count as held (the snapshot holds them), and so do entries a disk's durable
 * snapshot covers; Log Matching and Leader Append-Only look at the entries a log still holds.
 */
export class InvariantChecker {
  private readonly leaders = new Map<number, NodeId>();
  /** (index, term) → the entry and the term before it: Log Matching by induction on the index. */
  private readonly seen = new Map<number, Map<number, { entry: Entry; prevTerm: number }>>();
  /** Committed entries by index - 1, learnt from every apply, with the term in which each was committed. */
  private readonly committed: Entry[] = [];
  private readonly commitTerms: number[] = [];
  /** committedDigests[i]: the digest of committed entries 1..i (index 0: none applied). */
  private readonly committedDigests: number[] = [digestSeed];
  private readonly shadows = new Map<NodeId, Shadow>();

  constructor(private readonly servers: () => readonly ServerView[]) {}

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
        this.committedDigests.push(digestAfter(this.committedDigests[this.committedDigests.length - 1], entry));
        this.checkLeadersHold(entry, server.term);
      } else if (!sameEntry(known, entry)) {
        fail('State Machine Safety', `${server.id} applied ${describe(entry)} at index ${entry.index}, another server applied ${describe(known)}`);
      }
    }
  }

  /** A server took its state machine's snapshot at `index`: it must have applied exactly 1..index, the committed ones. */
  onSnapshotTaken(server: ServerView, index: number, data: Uint8Array): void {
    const shadow = this.shadowOf(server);
    if (index !== shadow.appliedIndex) {
      fail('State Machine Safety', `${server.id} took a snapshot labelled index ${index} having applied through ${shadow.appliedIndex}`);
    }
    this.checkSnapshotState(server.id, 'took', index, data);
  }

  /** A server's state machine was replaced by `snapshot`: it must be committed entries 1..index, and applies continue after it. */
  onRestore(server: ServerView, snapshot: Snapshot): void {
    this.checkSnapshotState(server.id, 'restored', snapshot.index, snapshot.data);
    const known = this.committed[snapshot.index - 1];
    if (snapshot.index > 0 && known !== undefined && known.term !== snapshot.term) {
      fail('State Machine Safety', `${server.id} restored a snapshot of ${snapshot.index}@t${snapshot.term}, but ${describe(known)} was committed there`);
    }
    const shadow = this.shadowOf(server);
    if (snapshot.index < shadow.appliedIndex) fail('State Machine Safety', `${server.id} restored snapshot ${snapshot.index}, behind what it applied (${shadow.appliedIndex})`);
    shadow.appliedIndex = snapshot.index;
  }

  /** A client was told `entry` is committed: a majority of every server's disks must hold it durably now (in the log, or in a snapshot). */
  onAcknowledged(entry: Entry): void {
    this.onCommitted(entry, [this.servers().map((server) => server.id)]);
  }

  /**
   * A leader committed `entry` counting the voters of one of `configurations` (§4.1: the one in
   * force as it committed): a majority of those voters' disks must hold it durably now.
   */
  onCommitted(entry: Entry, configurations: readonly (readonly NodeId[])[]): void {
    let best = '';
    for (const voters of configurations) {
      let copies = 0;
      for (const server of this.servers()) {
        if (!voters.includes(server.id)) continue;
        if (entry.index <= server.disk.snapshotIndex || server.disk.durableTermAt(entry.index) === entry.term) copies++;
      }
      if (copies >= quorumSize(voters.length)) return;
      best = `${copies} of ${voters.length} voters' disks (${voters.join(' ')})`;
    }
    fail('Durability', `${describe(entry)} is committed, but only ${best} hold it durably`);
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
      shadow = { incarnation: server.incarnation, entries: [], leaderTerm: 0, appliedIndex: 0, configIndexes: [] };
      this.shadows.set(server.id, shadow);
    }
    return shadow;
  }

  /** A snapshot's state must be the committed entries 1..index applied, no more and no less. */
  private checkSnapshotState(id: NodeId, verb: string, index: number, data: Uint8Array): void {
    const state = decodeDigestSnapshot(data);
    if (state === null || state.applied !== index) {
      fail('State Machine Safety', `${id} ${verb} a snapshot of index ${index} whose state is ${state === null ? 'unreadable' : `${state.applied} entries applied`}`);
    }
    const expected = this.committedDigests[index];
    if (expected === undefined) fail('State Machine Safety', `${id} ${verb} a snapshot of index ${index} before anyone applied it`);
    if (state.digest !== expected) fail('State Machine Safety', `${id} ${verb} a snapshot of index ${index} that differs from applying committed entries 1..${index}`);
  }

  private checkLog(server: ServerView, shadow: Shadow): void {
    const log = server.log;
    // Only applied entries may be compacted: the snapshot holding them is of the applied state (§7).
    if (log.baseIndex > shadow.appliedIndex) {
      fail('State Machine Safety', `${server.id} compacted its log through ${log.baseIndex} but applied only through ${shadow.appliedIndex}`);
    }
    let agreed = Math.min(shadow.entries.length, log.lastIndex);
    // By content: a packed entry comes back as a new object (RaftLog keeps old entries packed).
    // Compacted entries are not compared: a snapshot holds them (and is checked when taken).
    while (agreed > log.baseIndex && !sameEntry(shadow.entries[agreed - 1], log.entryAt(agreed))) agreed--;
    if (agreed < shadow.entries.length && shadow.leaderTerm !== 0 && server.role === 'leader' && server.term === shadow.leaderTerm) {
      fail('Leader Append-Only', `leader ${server.id} of term ${server.term} lost or replaced entries from index ${agreed + 1}`);
    }
    // A log restored from a snapshot starts after it: the shadow skips (leaves holes for) what the snapshot holds.
    agreed = Math.max(agreed, log.baseIndex);
    shadow.entries.length = agreed;
    const configs = shadow.configIndexes;
    while (configs.length > 0 && configs[configs.length - 1] > agreed) configs.pop();
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
      if (entry.kind === 'config') configs.push(index);
    }
    // One change at a time (§4.1): no log holds two config entries that nobody has committed.
    let uncommitted = 0;
    for (let i = configs.length - 1; i >= 0 && configs[i] > this.committed.length; i--) uncommitted++;
    if (uncommitted > 1) {
      fail('One Change at a Time', `${server.id}'s log holds config entries ${configs.slice(-uncommitted).join(', ')}, none of them committed`);
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

/** True when `log` holds `entry`, or has compacted it into a snapshot (a snapshot holds committed entries only). */
function holds(log: RaftLog, entry: Entry): boolean {
  if (entry.index <= log.baseIndex) return true;
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
