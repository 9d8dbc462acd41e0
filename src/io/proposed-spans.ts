/**
 * The log indexes a server accepted as proposals in this incarnation, as spans [first, last]:
 * only their applied results can have someone waiting (a proposeAndWait on this server), so
 * only theirs travel to the main thread. Spans are forgotten once applied past.
 */
export class ProposedSpans {
  readonly #spans: { first: number; last: number }[] = [];

  /** Records `count` proposals accepted at `first`, `first + 1`, …; contiguous ones join the newest span. */
  add(first: number, count: number): void {
    if (count <= 0) return;
    const newest = this.#spans.at(-1);
    if (newest !== undefined && first === newest.last + 1) newest.last += count;
    else this.#spans.push({ first, last: first + count - 1 });
  }

  /**
   * The part of the applied run [first, last] that any span covers, as one range [from, to]
   * (gaps inside it included), or null when none does; spans ending by `last` are forgotten.
   */
  take(first: number, last: number): { from: number; to: number } | null {
    let from = Infinity;
    let to = -Infinity;
    let kept = 0;
    for (const span of this.#spans) {
      if (span.first <= last && span.last >= first) {
        from = Math.min(from, Math.max(span.first, first));
        to = Math.max(to, Math.min(span.last, last));
      }
      if (span.last > last) this.#spans[kept++] = span;
    }
    this.#spans.length = kept;
    return from <= to ? { from, to } : null;
  }

  get size(): number {
    return this.#spans.length;
  }
}
