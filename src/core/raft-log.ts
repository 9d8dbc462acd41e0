import type { Entry } from '../protocol/types.ts';
import { assert } from './assert.ts';

/**
 * A server's in-memory view of its log, owned by its raft-server chart and changed in place:
 * appending a batch costs O(batch), never O(log length) (ARCHITECTURE.md, statechart conventions).
 * The chart's snapshot refers to this object; the durable log, not the snapshot, is what a restart recovers.
 *
 * Indexes start at 1; index 0 is the empty log's sentinel with term 0.
 */
export class RaftLog {
  private readonly entries: Entry[];
  /** How many truncations removed at least one entry: lets a checker prove a leader never deleted anything. */
  private removals = 0;

  constructor(initial: readonly Entry[] = []) {
    this.entries = [];
    this.append(initial);
  }

  get lastIndex(): number {
    return this.entries.length;
  }

  get lastTerm(): number {
    return this.entries.length === 0 ? 0 : this.entries[this.entries.length - 1].term;
  }

  /** Truncations that removed entries, since this view was created. */
  get removalCount(): number {
    return this.removals;
  }

  /** The term at `index`, 0 for index 0, undefined past the end. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index < 0 || index > this.entries.length) return undefined;
    return this.entries[index - 1].term;
  }

  /** The entry at `index` in [1, lastIndex]. */
  entryAt(index: number): Entry {
    assert(index >= 1 && index <= this.entries.length, `entry ${index} outside [1, ${this.entries.length}]`);
    return this.entries[index - 1];
  }

  /** True when the log holds `index` with `term` (index 0 always matches term 0). */
  matches(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Entries in [from, toExclusive), clamped to the log; a new array sharing the entry objects. */
  slice(from: number, toExclusive: number): Entry[] {
    return this.entries.slice(Math.max(from, 1) - 1, Math.min(toExclusive, this.entries.length + 1) - 1);
  }

  /** Entries from `from` on, stopping before the count or byte limit is passed (at least one entry if any). */
  sliceBounded(from: number, entriesMax: number, bytesMax: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = Math.max(from, 1); index <= this.entries.length && out.length < entriesMax; index++) {
      const entry = this.entries[index - 1];
      bytes += entry.command.byteLength;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** Appends entries that continue the log exactly (index lastIndex+1, …). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.entries.length + 1, `append of index ${entry.index} after ${this.entries.length}`);
      assert(entry.term >= this.lastTerm, `append of term ${entry.term} after term ${this.lastTerm}`);
      this.entries.push(entry);
    }
  }

  /** Deletes every entry with index >= fromIndex. */
  truncateFrom(fromIndex: number): void {
    assert(fromIndex >= 1, `truncate from ${fromIndex}`);
    if (fromIndex <= this.entries.length) {
      this.entries.length = fromIndex - 1;
      this.removals++;
    }
  }

  /** The first index of the run of entries that share the term at `index` (for a rejection hint, §5.3). */
  firstIndexOfTermAt(index: number): number {
    const term = this.termAt(index);
    assert(term !== undefined && index >= 1, `no entry at ${index}`);
    let first = index;
    while (first > 1 && this.entries[first - 2].term === term) first--;
    return first;
  }

  /** The last index <= atMost whose term is `term`, or 0 when none (the leader's side of the hint). */
  lastIndexOfTerm(term: number, atMost: number): number {
    for (let index = Math.min(atMost, this.entries.length); index >= 1; index--) {
      const t = this.entries[index - 1].term;
      if (t === term) return index;
      if (t < term) return 0;
    }
    return 0;
  }
}
