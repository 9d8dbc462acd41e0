import type { NodeId } from '../protocol/types.ts';

/**
 * Picks the id of the next server to add: the lowest `nK` that no server of the cluster has now
 * and none had while this process watched. The cluster never takes an id again once it was
 * removed (InvalidOptions), so an id seen once is never offered again, unless the cluster refused
 * it without keeping the server (release).
 */
export class ServerIds {
  readonly #seen = new Set<NodeId>();

  /** The next free id, taken from now on; `current` are the cluster's servers now (cluster.nodeIds). */
  next(current: readonly NodeId[]): NodeId {
    for (const id of current) this.#seen.add(id);
    // Of the ids n1 … n(seen + 1), one at least is free.
    for (let k = 1; k <= this.#seen.size + 1; k++) {
      const id = `n${k}`;
      if (!this.#seen.has(id)) {
        this.#seen.add(id);
        return id;
      }
    }
    throw new Error(`ServerIds.next: no free id among n1 … n${this.#seen.size + 1}`);
  }

  /** Offers `id` again: the cluster refused it and kept no server under it (nor a record of one). */
  release(id: NodeId): void {
    this.#seen.delete(id);
  }
}
