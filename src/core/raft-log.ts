import { commandAt, kindsByCode, packEntries, type PackedEntries } from '../protocol/packing.ts';
import type { Entry } from '../protocol/types.ts';
import { assert } from './assert.ts';

/**
 * A server's in-memory view of its log, owned by its raft-server chart and changed in place:
 * appending a batch costs O(batch), never O(log length) (ARCHITECTURE.md, statechart conventions).
 * The chart's snapshot refers to this object; the durable log, not the snapshot, is what a restart recovers.
 *
 * Indexes start at 1; index 0 is the empty log's sentinel with term 0. After compaction (paper
 * §7) the log starts after a base: entries 1..baseIndex live in a snapshot, and only the base's
 * term is kept, as the sentinel the next entry's AppendEntries needs (prevLogTerm). termAt of a
 * compacted index is undefined, and reading a compacted entry is an assertion failure.
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
  /** The last index held in `chunks` (baseIndex when none): the hot tail starts after it. */
  private packedThrough = 0;
  /** Entries 1..base are compacted into a snapshot; baseTerm is the term of entry `base` (0 for base 0). */
  private base = 0;
  private baseTermValue = 0;
  /** Entries packedThrough + 1 … lastIndex, as appended. */
  private entries: Entry[] = [];
  /** How many truncations removed at least one entry: lets a checker prove a leader never deleted anything. */
  private removals = 0;
  private readonly chunkEntries: number;

  /**
   * `initial`: the entries after the base, in order. `chunkEntries`: entries per packed chunk; the
   * hot tail holds fewer than twice that (default 8192). `base`: the index and term the log starts
   * after, when it continues a snapshot (default 0, 0: from index 1).
   */
  constructor(initial: readonly Entry[] = [], options: { readonly chunkEntries?: number; readonly base?: { readonly index: number; readonly term: number } } = {}) {
    this.chunkEntries = options.chunkEntries ?? chunkEntriesDefault;
    assert(Number.isInteger(this.chunkEntries) && this.chunkEntries >= 1, `chunkEntries ${this.chunkEntries}`);
    const base = options.base ?? { index: 0, term: 0 };
    assert(Number.isSafeInteger(base.index) && base.index >= 0 && (base.index > 0 || base.term === 0), `base ${base.index}@${base.term}`);
    this.base = this.packedThrough = base.index;
    this.baseTermValue = base.term;
    this.append(initial);
  }

  /** The last compacted index (0 when nothing is): entries up to it are in a snapshot. */
  get baseIndex(): number {
    return this.base;
  }

  /** The term of entry baseIndex, the sentinel the first held entry follows. */
  get baseTerm(): number {
    return this.baseTermValue;
  }

  /** The first index the log holds (lastIndex + 1 when it holds none). */
  get firstIndex(): number {
    return this.base + 1;
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

  /** The term at `index`: 0 for index 0, the base's term at baseIndex, undefined past the end or before the base. */
  termAt(index: number): number | undefined {
    if (index === this.base) return this.baseTermValue;
    if (index < this.base || index > this.lastIndex) return undefined;
    if (index > this.packedThrough) return this.entries[index - this.packedThrough - 1].term;
    const chunk = this.chunkOf(index);
    return chunk.terms[index - chunk.first];
  }

  /** The entry at `index` in [firstIndex, lastIndex]. */
  entryAt(index: number): Entry {
    if (!(index > this.base && index <= this.lastIndex)) assert(false, `entry ${index} outside [${this.base + 1}, ${this.lastIndex}]`);
    return index > this.packedThrough ? this.entries[index - this.packedThrough - 1] : unpackAt(this.chunkOf(index), index);
  }

  /** True when the log holds `index` with `term` (index 0 always matches term 0; the base matches its term). */
  matches(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Entries in [from, toExclusive), clamped to [firstIndex, lastIndex]; a new array (hot entries are the appended objects). */
  slice(from: number, toExclusive: number): Entry[] {
    const first = Math.max(from, this.base + 1);
    const end = Math.min(toExclusive, this.lastIndex + 1);
    if (first > this.packedThrough) return this.entries.slice(first - this.packedThrough - 1, end - this.packedThrough - 1);
    const out: Entry[] = [];
    for (let index = first; index < end; index++) out.push(this.entryAt(index));
    return out;
  }

  /** Entries from `from` (> baseIndex) on, stopping before the count or byte limit is passed (at least one entry if any). */
  sliceBounded(from: number, entriesMax: number, bytesMax: number): Entry[] {
    if (!(from > this.base)) assert(false, `entries from ${from} are compacted (base ${this.base}): send the snapshot`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = from; index <= this.lastIndex && out.length < entriesMax; index++) {
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

  /** Deletes every entry with index >= fromIndex (> baseIndex: compacted entries are committed). */
  truncateFrom(fromIndex: number): void {
    assert(fromIndex > this.base, `truncate from ${fromIndex} into the compacted prefix (base ${this.base})`);
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

  /**
   * The first index of the run of entries that share the term at `index` (for a rejection hint,
   * §5.3), not below firstIndex: the run may go on into the compacted prefix.
   */
  firstIndexOfTermAt(index: number): number {
    const term = this.termAt(index);
    assert(term !== undefined && index > this.base, `no entry at ${index}`);
    let first = index;
    while (first > this.base + 1 && this.termAt(first - 1) === term) first--;
    return first;
  }

  /** The last index in [baseIndex, atMost] whose term is `term`, or 0 when none (the leader's side of the hint). */
  lastIndexOfTerm(term: number, atMost: number): number {
    for (let index = Math.min(atMost, this.lastIndex); index >= Math.max(1, this.base); index--) {
      const t = this.termAt(index) as number;
      if (t === term) return index;
      if (t < term) return 0;
    }
    return 0;
  }

  /**
   * Drops every entry up to `index` (in [baseIndex, lastIndex]), which a durable snapshot now
   * holds: `index` becomes the base. Whole chunks go; a chunk that straddles the base stays until
   * a later compaction passes its end. O(chunks dropped + hot entries dropped).
   */
  compactThrough(index: number): void {
    if (index <= this.base) return;
    if (!(index <= this.lastIndex)) assert(false, `compaction through ${index} past the log's end ${this.lastIndex}`);
    const term = this.termAt(index) as number;
    while (this.chunks.length > 0 && this.chunkLast(0) <= index) this.chunks.shift();
    if (index > this.packedThrough) {
      this.entries.splice(0, index - this.packedThrough);
      this.packedThrough = index;
    }
    this.base = index;
    this.baseTermValue = term;
  }

  /**
   * Discards the whole log and starts it after (index, term): a follower that installs a snapshot
   * its log does not agree with (Figure 13, step 7). Counts as a removal when entries are lost
   * that the snapshot does not hold.
   */
  resetTo(index: number, term: number): void {
    assert(index >= this.base, `reset to ${index} behind the base ${this.base}`);
    if (this.lastIndex > index || (index <= this.lastIndex && this.termAt(index) !== term)) this.removals++;
    this.chunks.length = 0;
    this.entries = [];
    this.base = this.packedThrough = index;
    this.baseTermValue = term;
  }

  /** The last index of chunk k: the next chunk's first - 1, or packedThrough for the last one. */
  private chunkLast(k: number): number {
    return k + 1 < this.chunks.length ? this.chunks[k + 1].first - 1 : this.packedThrough;
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
