import { setTimeout as sleep } from 'node:timers/promises';
import { LocalCluster, type AppliedEntry, type ClusterOptions, type CommittedResult, type NodeStatus } from '../../src/cluster/local-cluster.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import type { NodeId } from '../../src/protocol/types.ts';

/**
 * Helpers for tests on real workers and real files: a cluster that afterEach stops, an apply
 * checker (State Machine Safety and in-order application, checked on every applied entry), and
 * polling waits. Timings are generous: two busy cores can stall a worker for hundreds of ms.
 */

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function command(text: string): Uint8Array {
  return utf8.encode(text);
}

export function text(bytes: Uint8Array): string {
  return fromUtf8.decode(bytes);
}

/**
 * Watches every applied entry: no two servers (nor two incarnations of one) apply different
 * entries at one index, and each incarnation applies 1, 2, 3, … without gaps or repeats, where a
 * 'snapshot' entry (the state machine restored from a snapshot of 1..index) jumps to its index.
 */
export class ApplyChecker {
  readonly violations: string[] = [];
  /** index → `term/kind/command` of the first entry any server applied there. */
  readonly committed = new Map<number, string>();
  readonly lastApplied = new Map<NodeId, number>();
  readonly appliedCommands = new Map<NodeId, string[]>();
  /** The snapshot indexes each server's state machine was restored from, in order. */
  readonly restores = new Map<NodeId, number[]>();

  constructor(cluster: LocalCluster) {
    cluster.onApply((entry) => this.#check(entry));
  }

  /** Call after crash() and before restart(): the next incarnation starts again from index 1. */
  reset(id: NodeId): void {
    this.lastApplied.set(id, 0);
    this.appliedCommands.set(id, []);
  }

  applied(id: NodeId): number {
    return this.lastApplied.get(id) ?? 0;
  }

  /** The snapshot indexes `id` was restored from (any incarnation), in order. */
  restoresOf(id: NodeId): number[] {
    return this.restores.get(id) ?? [];
  }

  /** The commands (as text) `id`'s current incarnation applied, in order (after the snapshot it restored, if any). */
  commandsOf(id: NodeId): string[] {
    return this.appliedCommands.get(id) ?? [];
  }

  #check(entry: AppliedEntry): void {
    if (entry.kind === 'snapshot') {
      const applied = this.lastApplied.get(entry.nodeId) ?? 0;
      if (entry.index < applied) this.violations.push(`${entry.nodeId} restored snapshot ${entry.index} behind what it applied (${applied})`);
      this.lastApplied.set(entry.nodeId, entry.index);
      this.appliedCommands.set(entry.nodeId, []);
      this.restores.set(entry.nodeId, [...this.restoresOf(entry.nodeId), entry.index]);
      return;
    }
    const expected = (this.lastApplied.get(entry.nodeId) ?? 0) + 1;
    if (entry.index !== expected) this.violations.push(`${entry.nodeId} applied index ${entry.index}, expected ${expected}`);
    this.lastApplied.set(entry.nodeId, entry.index);
    const key = `${entry.term}/${entry.kind}/${text(entry.command)}`;
    const first = this.committed.get(entry.index);
    if (first === undefined) this.committed.set(entry.index, key);
    else if (first !== key) this.violations.push(`index ${entry.index}: ${entry.nodeId} applied ${key}, another server ${first}`);
    if (entry.kind === 'command') {
      const list = this.appliedCommands.get(entry.nodeId) ?? [];
      list.push(text(entry.command));
      this.appliedCommands.set(entry.nodeId, list);
    }
  }
}

/**
 * Starts clusters and stops every one of them in afterEach, even when the test failed; then fails
 * the test if any apply checker saw a violation or any worker died on its own.
 */
export class ClusterPool {
  readonly #started: { cluster: LocalCluster; checker: ApplyChecker }[] = [];

  async start(options: Partial<ClusterOptions> & { nodes: number }): Promise<{ cluster: LocalCluster; checker: ApplyChecker }> {
    const cluster = await LocalCluster.start({ electionTimeoutMs: [150, 300], heartbeatIntervalMs: 50, seed: 1, ...options });
    const started = { cluster, checker: new ApplyChecker(cluster) };
    this.#started.push(started);
    return started;
  }

  async stopAll(): Promise<void> {
    const started = this.#started.splice(0);
    await Promise.all(started.map(({ cluster }) => cluster.stop()));
    const problems = started.flatMap(({ cluster, checker }) => [...checker.violations, ...cluster.workerErrors.map((e) => `${e.id} died: ${String(e.error)}`)]);
    if (problems.length > 0) throw new Error(`after the test:\n${problems.join('\n')}`);
  }
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 30): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function statuses(cluster: LocalCluster, ids: readonly NodeId[] = cluster.nodeIds): Promise<NodeStatus[]> {
  return Promise.all(ids.map((id) => cluster.status(id)));
}

/** The leader of the highest term among `ids` (alive ones), if one is there. */
export async function currentLeader(cluster: LocalCluster, ids: readonly NodeId[] = cluster.nodeIds): Promise<NodeStatus | undefined> {
  const alive = (await statuses(cluster, ids)).filter((s) => s.alive);
  const term = Math.max(...alive.map((s) => s.term));
  return alive.find((s) => s.role === 'leader' && s.term === term);
}

export async function waitForLeader(cluster: LocalCluster, ids: readonly NodeId[] = cluster.nodeIds, timeoutMs = 10_000): Promise<NodeStatus> {
  return waitFor(`a leader among ${ids.join(',')}`, () => currentLeader(cluster, ids), timeoutMs);
}

/** Proposes `cmd` to whoever leads among `ids` until one commits and applies it; retries after NotLeader or Timeout. */
export async function commit(cluster: LocalCluster, cmd: Uint8Array, ids: readonly NodeId[] = cluster.nodeIds, timeoutMs = 15_000): Promise<CommittedResult> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown = null;
  while (performance.now() < deadline) {
    const leader = await currentLeader(cluster, ids);
    if (leader === undefined) {
      await sleep(30);
      continue;
    }
    try {
      return await cluster.proposeAndWait(leader.id, cmd, { timeoutMs: 2000 });
    } catch (error) {
      if (!hasErrorCode(error, 'NotLeader') && !hasErrorCode(error, 'Timeout')) throw error;
      lastError = error;
    }
  }
  throw new Error(`no commit within ${timeoutMs} ms: ${String(lastError)}`);
}

/** Waits until every server in `ids` has applied at least `index`. */
export async function waitForApplied(checker: ApplyChecker, ids: readonly NodeId[], index: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(`${ids.join(',')} to apply ${index} (now ${ids.map((id) => checker.applied(id)).join(',')})`, () => ids.every((id) => checker.applied(id) >= index), timeoutMs);
}
