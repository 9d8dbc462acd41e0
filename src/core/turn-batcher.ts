import { assert } from './assert.ts';

/** When a batch goes: at the end of this turn of the event loop (setImmediate), or after the current task (a microtask). */
export type TurnEnd = 'turn' | 'microtask';

/**
 * Gathers what one turn of the event loop produces and hands it over once, as one array: the one
 * batcher behind every stream that crosses a thread in batches (a server's messages to its peers
 * and its answers to the main thread, the main thread's proposals to a server, a durable log's
 * requests). Under load a turn gathers many items and pays for one postMessage; idle, an item
 * goes at the end of the turn it was made in. At `itemsMax` the batch goes at once.
 */
export class TurnBatcher<T> {
  readonly #flush: (items: T[]) => void;
  readonly #itemsMax: number;
  readonly #end: TurnEnd;
  #items: T[] = [];
  #scheduled = false;

  constructor(flush: (items: T[]) => void, options: { readonly itemsMax?: number; readonly end?: TurnEnd } = {}) {
    this.#flush = flush;
    this.#itemsMax = options.itemsMax ?? Number.POSITIVE_INFINITY;
    this.#end = options.end ?? 'turn';
    assert(this.#itemsMax >= 1, `itemsMax ${this.#itemsMax}`);
  }

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
    if (this.#items.length >= this.#itemsMax) {
      this.flush();
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#end === 'turn') setImmediate(this.#onTurnEnd);
    else queueMicrotask(this.#onTurnEnd);
  }

  /** Hands over what is gathered now (nothing when empty). */
  flush(): void {
    if (this.#items.length === 0) return;
    const items = this.#items;
    this.#items = [];
    this.#flush(items);
  }

  /** Forgets what is gathered, handing nothing over. */
  clear(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }

  readonly #onTurnEnd = (): void => {
    this.#scheduled = false;
    this.flush();
  };
}
