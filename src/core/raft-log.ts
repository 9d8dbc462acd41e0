import { commandAt, kindsByCode, packEntries, type PackedEntries } from '../protocol/packed-entries.ts';
import type { Entry } from '../protocol/types.ts';
import { assert } from './assert.ts';

/**
 * A server's in-memory view of its log, owned by its raft-server chart and changed in place:
 * appending a batch costs O(batch), never O(log length) (ARCHITECTURE.md, statechart conventions).
 * The chart's snapshot refers to this object; the durable log, not the snapshot, is what a restart recovers.
 *
 * Indexes start at 1; index 0 is the empty log's sentinel with term 0.
 *
 * Memory: the newest entries are kept as the Entry objects appended (the hot tail, where
 * replication, commitment and apply work). Older ones are packed, `chunkEntries` at a time, into
 * typed arrays (terms, kinds, command ends) and one byte buffer: an Entry and its command view
 * cost the garbage collector two objects to trace on every major collection, so a long-running
 * server would spend more and more of its time marking a log that never changes. entryAt and
 * slice rebuild packed entries as new objects (equal in content, not identical).
 */
export class RaftLog {
  /** Packed entries, oldest first, contiguous: chunk k + 1 starts right after chunk k ends. */
  private readonly chunks: PackedChunk[] = [];
  /** The last index held in `chunks` (0 when none): the hot tail starts after it. */
  private packedThrough = 0;
  /** Entries packedThrough + 1 … lastIndex, as appended. */
  private entries: Entry[] = [];
  /** How many truncations removed at least one entry: lets a checker prove a leader never deleted anything. */
  private removals = 0;
  private readonly chunkEntries: number;

  /** `chunkEntries`: entries per packed chunk; the hot tail holds fewer than twice that. Default 8192. */
  constructor(initial: readonly Entry[] = [], options: { readonly chunkEntries?: number } = {}) {
    this.chunkEntries = options.chunkEntries ?? chunkEntriesDefault;
    assert(Number.isInteger(this.chunkEntries) && this.chunkEntries >= 1, `chunkEntries ${this.chunkEntries}`);
    this.append(initial);
  }

  get lastIndex(): number {
    return this.packedThrough + this.entries.length;
  }

  get lastTerm(): number {
    if (this.entries.length > 0) return this.entries[this.entries.length - 1].term;
    return this.termAt(this.packedThrough) ?? 0;
  }

  /** Truncations that removed entries, since this view was created. */
  get removalCount(): number {
    return this.removals;
  }

  /** The term at `index`, 0 for index 0, undefined past the end. */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    if (index < 0 || index > this.lastIndex) return undefined;
    if (index > this.packedThrough) return this.entries[index - this.packedThrough - 1].term;
    const chunk = this.chunkOf(index);
    return chunk.terms[index - chunk.first];
  }

  /** The entry at `index` in [1, lastIndex]. */
  entryAt(index: number): Entry {
    if (!(index >= 1 && index <= this.lastIndex)) assert(false, `entry ${index} outside [1, ${this.lastIndex}]`);
    return index > this.packedThrough ? this.entries[index - this.packedThrough - 1] : unpackAt(this.chunkOf(index), index);
  }

  /** True when the log holds `index` with `term` (index 0 always matches term 0). */
  matches(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Entries in [from, toExclusive), clamped to the log; a new array (hot entries are the appended objects). */
  slice(from: number, toExclusive: number): Entry[] {
    const first = Math.max(from, 1);
    const end = Math.min(toExclusive, this.lastIndex + 1);
    if (first > this.packedThrough) return this.entries.slice(first - this.packedThrough - 1, end - this.packedThrough - 1);
    const out: Entry[] = [];
    for (let index = first; index < end; index++) out.push(this.entryAt(index));
    return out;
  }

  /** Entries from `from` on, stopping before the count or byte limit is passed (at least one entry if any). */
  sliceBounded(from: number, entriesMax: number, bytesMax: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = Math.max(from, 1); index <= this.lastIndex && out.length < entriesMax; index++) {
      const entry = index > this.packedThrough ? this.entries[index - this.packedThrough - 1] : unpackAt(this.chunkOf(index), index);
      bytes += entry.command.byteLength;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** Appends entries that continue the log exactly (index lastIndex+1, …). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      // Checked on every entry: the message is built only when the check fails (a template literal costs ~40 ns and garbage).
      if (entry.index !== this.lastIndex + 1) assert(false, `append of index ${entry.index} after ${this.lastIndex}`);
      if (entry.term < this.lastTerm) assert(false, `append of term ${entry.term} after term ${this.lastTerm}`);
      this.entries.push(entry);
    }
    if (this.entries.length >= 2 * this.chunkEntries) this.packOldest();
  }

  /** Deletes every entry with index >= fromIndex. */
  truncateFrom(fromIndex: number): void {
    assert(fromIndex >= 1, `truncate from ${fromIndex}`);
    if (fromIndex > this.lastIndex) return;
    this.removals++;
    if (fromIndex > this.packedThrough) {
      this.entries.length = fromIndex - this.packedThrough - 1;
      return;
    }
    // Into the packed part (a long-partitioned leader's uncommitted run being replaced): drop the
    // chunks that start at or after fromIndex; the rest of the one holding it lies past
    // packedThrough, where nothing reads it, and the next chunk packed starts there.
    this.entries = [];
    while (this.chunks.length > 0 && this.chunks[this.chunks.length - 1].first >= fromIndex) this.chunks.pop();
    this.packedThrough = fromIndex - 1;
  }

  /** The first index of the run of entries that share the term at `index` (for a rejection hint, §5.3). */
  firstIndexOfTermAt(index: number): number {
    const term = this.termAt(index);
    assert(term !== undefined && index >= 1, `no entry at ${index}`);
    let first = index;
    while (first > 1 && this.termAt(first - 1) === term) first--;
    return first;
  }

  /** The last index <= atMost whose term is `term`, or 0 when none (the leader's side of the hint). */
  lastIndexOfTerm(term: number, atMost: number): number {
    for (let index = Math.min(atMost, this.lastIndex); index >= 1; index--) {
      const t = this.termAt(index) as number;
      if (t === term) return index;
      if (t < term) return 0;
    }
    return 0;
  }

  /** Packs the oldest chunkEntries entries of the hot tail into a chunk. */
  private packOldest(): void {
    const moved = this.entries.slice(0, this.chunkEntries);
    this.entries = this.entries.slice(this.chunkEntries);
    this.chunks.push(packChunk(moved));
    this.packedThrough += moved.length;
  }

  /** The chunk holding `index` in [1, packedThrough]: a binary search over the chunks' first indexes. */
  private chunkOf(index: number): PackedChunk {
    let low = 0;
    let high = this.chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.chunks[middle].first <= index) low = middle;
      else high = middle - 1;
    }
    return this.chunks[low];
  }
}

const chunkEntriesDefault = 8192;

/** Packed entries from index `first` on (src/protocol/packed-entries.ts). */
interface PackedChunk extends PackedEntries {
  readonly first: number;
}

function packChunk(entries: readonly Entry[]): PackedChunk {
  return { ...packEntries(entries), first: entries[0].index };
}

function unpackAt(chunk: PackedChunk, index: number): Entry {
  const i = index - chunk.first;
  return { index, term: chunk.terms[i], kind: kindsByCode[chunk.kinds[i]], command: commandAt(chunk, i) };
}
