import type { RaftMessage } from '../protocol/messages.ts';
import { assert } from './assert.ts';

/** The most replies that may wait for the durable log at once; more is a runaway (a disk that never syncs while requests pour in). */
export const outboxMessagesMax = 65_536;

/**
 * Replies waiting for the durable log before they may be sent (ARCHITECTURE.md rule 1): each
 * holds the seq of the last durable-log request made before it, and goes once the durable log
 * reports that seq synced. Owned by one raft-server chart and changed in place: hold is O(1),
 * release O(released).
 */
export class Outbox {
  #items: { readonly requiredSeq: number; readonly message: RaftMessage }[] = [];

  get size(): number {
    return this.#items.length;
  }

  /** Holds `message` until `requiredSeq` is synced; seqs never go back. */
  hold(requiredSeq: number, message: RaftMessage): void {
    if (this.#items.length >= outboxMessagesMax) assert(false, `more than ${outboxMessagesMax} replies wait for the durable log`);
    const last = this.#items[this.#items.length - 1];
    if (last !== undefined && requiredSeq < last.requiredSeq) assert(false, `a reply held for seq ${requiredSeq} after one for ${last.requiredSeq}`);
    this.#items.push({ requiredSeq, message });
  }

  /** Removes and returns, in order, every reply that may go now that `syncedSeq` is durable. */
  release(syncedSeq: number): RaftMessage[] {
    let count = 0;
    while (count < this.#items.length && this.#items[count].requiredSeq <= syncedSeq) count++;
    if (count === 0) return [];
    return this.#items.splice(0, count).map((item) => item.message);
  }
}
