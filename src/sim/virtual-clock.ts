import { assert } from '../core/assert.ts';

interface Task {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
  cancelled: boolean;
}

/**
 * A virtual clock for XState (`createActor(machine, { clock })`) and for everything else a
 * simulation schedules: one queue of tasks ordered by (time, insertion order), so a run is a pure
 * function of its seed. Time moves only when a task runs.
 */
export class VirtualClock {
  private heap: Task[] = [];
  private orderNext = 0;
  private nowMs = 0;
  private readonly handles = new Map<number, Task>();

  get now(): number {
    return this.nowMs;
  }

  /** Tasks not yet run or cancelled (cancelled ones may still be counted until popped). */
  get pending(): number {
    return this.heap.length;
  }

  /** XState's Clock contract: run `fn` after `timeoutMs` of virtual time; returns a handle. */
  setTimeout(fn: (...args: unknown[]) => void, timeoutMs: number): number {
    assert(Number.isFinite(timeoutMs) && timeoutMs >= 0, `bad timeout ${timeoutMs}`);
    const task: Task = { at: this.nowMs + timeoutMs, order: this.orderNext++, run: fn, cancelled: false };
    this.push(task);
    this.handles.set(task.order, task);
    return task.order;
  }

  clearTimeout(handle: unknown): void {
    const task = this.handles.get(handle as number);
    if (task !== undefined) {
      task.cancelled = true;
      this.handles.delete(task.order);
    }
  }

  /** The time of the next live task, or undefined when nothing is scheduled. */
  nextAt(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Runs the next task (advancing time to it); false when none is left. */
  runNext(): boolean {
    this.dropCancelled();
    const task = this.pop();
    if (task === undefined) return false;
    this.handles.delete(task.order);
    this.nowMs = task.at;
    task.run();
    return true;
  }

  /** Runs every task due at or before `timeMs`, then sets the time to `timeMs`. Bounded by `tasksMax`. */
  runUntil(timeMs: number, tasksMax = 10_000_000): number {
    let ran = 0;
    for (let next = this.nextAt(); next !== undefined && next <= timeMs; next = this.nextAt()) {
      assert(ran < tasksMax, `more than ${tasksMax} tasks before ${timeMs} ms`);
      this.runNext();
      ran++;
    }
    if (timeMs > this.nowMs) this.nowMs = timeMs;
    return ran;
  }

  /** Runs every task due now (zero-delay work such as an instant disk sync). */
  runDue(): number {
    return this.runUntil(this.nowMs);
  }

  /** Moves time forward by `ms`, running what falls due. */
  advance(ms: number): number {
    return this.runUntil(this.nowMs + ms);
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
  }

  private push(task: Task): void {
    const heap = this.heap;
    heap.push(task);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): Task | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop() as Task;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left], heap[smallest])) smallest = left;
        if (right < heap.length && before(heap[right], heap[smallest])) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
