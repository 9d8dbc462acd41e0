import { leaderOf, stateShown, type BusTapEvent, type NodeInspection } from '../cluster/local-cluster.ts';
import type { ViewedCluster } from '../cluster/viewed-cluster.ts';
import type { NodeId } from '../protocol/types.ts';
import type { PaceReading } from './update-pacer.ts';

/**
 * `ask` of every server of the cluster now (cluster.nodeIds, read at the call: servers join and
 * leave), in that order; a server removed while it was asked is left out, whatever its answer.
 * Rejects as `ask` does for a server still in the cluster.
 */
export async function askEveryServer<T>(cluster: Pick<ViewedCluster, 'nodeIds'>, ask: (id: NodeId) => Promise<T>): Promise<T[]> {
  const ids = cluster.nodeIds;
  const answers = await Promise.all(ids.map((id) => ask(id).catch((error: unknown) => (cluster.nodeIds.includes(id) ? Promise.reject(error) : null))));
  const members = new Set(cluster.nodeIds);
  return answers.filter((answer, i): answer is Awaited<T> => answer !== null && members.has(ids[i]));
}

/** Messages of the bus kept between two updates (the latest ones); past this the page sees a sample. */
export const recentMessagesMax = 40;
/** Lost messages kept between two updates, apart from the others so that drops stay visible under load. */
export const lostMessagesMax = 10;

/** One message as the page sees it; `seq` counts every message the feed saw. */
export interface MessageView extends BusTapEvent {
  readonly seq: number;
}

/** A server as the page sees it. */
export interface NodeView extends NodeInspection {
  /** What the page calls its state (and its panel's data-role): its role, or down, or failed (stateShown). */
  readonly state: ReturnType<typeof stateShown>;
  /** Since an AppendEntries was last delivered to it, as of the previous update (null: none seen yet, or leader). */
  readonly msSinceAppend: number | null;
  /** Write-ahead-log batches confirmed durable per second since the previous update. */
  readonly syncsPerSec: number;
}

/** One update of the page: every server, the network, the messages since the previous update. */
export interface InspectorUpdate {
  readonly type: 'update';
  readonly atMs: number;
  /** How often updates come now: slower while the process is busy (src/inspect/update-pacer.ts). */
  readonly pace: PaceReading;
  readonly nodes: readonly NodeView[];
  /** The leader of the highest term among the running servers, or null while that term has none (leaderOf). */
  readonly leader: NodeId | null;
  readonly network: {
    readonly paused: boolean;
    readonly reliable: boolean;
    /** For each server, the servers its messages can reach now (links only, before random loss). */
    readonly reachable: Readonly<Record<NodeId, readonly NodeId[]>>;
    readonly messages: number;
    readonly dropped: number;
    readonly malformed: number;
    readonly messagesPerSec: number;
  };
  readonly messages: {
    /** Messages the bus routed since the previous update, and how many of them were lost. */
    readonly routed: number;
    readonly lost: number;
    /** The latest of them (and the latest lost ones), oldest first; fewer than `routed` when sampled. */
    readonly recent: readonly MessageView[];
  };
}

/** A bounded buffer of the latest messages: O(1) per message, no allocation. */
class Ring {
  readonly #events: BusTapEvent[] = [];
  readonly #seqs: number[] = [];
  #next = 0;

  constructor(readonly capacity: number) {}

  push(event: BusTapEvent, seq: number): void {
    this.#events[this.#next] = event;
    this.#seqs[this.#next] = seq;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** Takes every message held, emptying the buffer. */
  drain(into: MessageView[]): void {
    for (let i = 0; i < this.#events.length; i++) into.push({ ...this.#events[i], seq: this.#seqs[i] });
    this.#events.length = 0;
    this.#seqs.length = 0;
    this.#next = 0;
  }
}

/**
 * What the inspector page shows, gathered only while someone watches: between start() and stop()
 * a tap on the bus keeps the latest messages (bounded), and update() asks every server for its
 * status with detail, one control call each. Nothing runs while stopped.
 */
export class InspectorFeed {
  readonly #cluster: ViewedCluster;
  readonly #logTailMax: number;
  readonly #started = performance.now();
  readonly #recent = new Ring(recentMessagesMax);
  readonly #lost = new Ring(lostMessagesMax);
  #seq = 0;
  #routedSinceUpdate = 0;
  #lostSinceUpdate = 0;
  /** Servers an AppendEntries was delivered to since the previous update. */
  readonly #appended = new Set<NodeId>();
  readonly #lastAppendAt = new Map<NodeId, number>();
  readonly #lastConfirmations = new Map<NodeId, number>();
  #lastUpdateAt = performance.now();
  #lastMessages = 0;
  #untap: (() => void) | null = null;
  #leader: NodeId | undefined;

  constructor(cluster: ViewedCluster, options: { readonly logTailMax: number }) {
    this.#cluster = cluster;
    this.#logTailMax = options.logTailMax;
  }

  /** Starts watching the bus; idempotent. */
  start(): void {
    if (this.#untap !== null) return;
    this.#lastMessages = this.#cluster.network.stats().messages;
    this.#lastUpdateAt = performance.now();
    this.#untap = this.#cluster.network.tap((event) => this.#onMessage(event));
  }

  /** Stops watching the bus; idempotent. */
  stop(): void {
    this.#untap?.();
    this.#untap = null;
  }

  /** The leader of the highest term in the last update, if there was one. */
  get leader(): NodeId | undefined {
    return this.#leader;
  }

  #onMessage(event: BusTapEvent): void {
    this.#seq++;
    this.#routedSinceUpdate++;
    if (event.deliveries === 0) {
      this.#lostSinceUpdate++;
      this.#lost.push(event, this.#seq);
      return;
    }
    this.#recent.push(event, this.#seq);
    if (event.type === 'rpc.appendEntries') this.#appended.add(event.to);
  }

  /** Everything the page shows now, with the pace updates come at; the messages are those since the previous call. */
  async update(pace: PaceReading): Promise<InspectorUpdate> {
    const cluster = this.#cluster;
    const inspected = await askEveryServer(cluster, (id) => cluster.inspect(id, { logTailMax: this.#logTailMax }));
    const now = performance.now();
    const elapsedSec = Math.max(1e-3, (now - this.#lastUpdateAt) / 1000);
    for (const id of this.#appended) this.#lastAppendAt.set(id, now);
    this.#appended.clear();
    this.#forgetRemoved();
    const nodes = inspected.map((node) => this.#nodeView(node, now, elapsedSec));
    this.#leader = leaderOf(nodes)?.id;
    const stats = cluster.network.stats();
    // The servers just inspected, all still in the cluster: nothing was awaited since.
    const ids = nodes.map((node) => node.id);
    const reachable: Record<NodeId, NodeId[]> = {};
    for (const from of ids) reachable[from] = ids.filter((to) => to !== from && cluster.network.isLinkUp(from, to));
    const recent: MessageView[] = [];
    this.#recent.drain(recent);
    this.#lost.drain(recent);
    recent.sort((a, b) => a.seq - b.seq);
    const update: InspectorUpdate = {
      type: 'update',
      atMs: Math.round(now - this.#started),
      pace,
      nodes,
      leader: this.#leader ?? null,
      network: {
        paused: cluster.network.isPaused(),
        reliable: cluster.network.isReliable(),
        reachable,
        messages: stats.messages,
        dropped: stats.dropped,
        malformed: stats.malformed,
        messagesPerSec: Math.round((stats.messages - this.#lastMessages) / elapsedSec),
      },
      messages: { routed: this.#routedSinceUpdate, lost: this.#lostSinceUpdate, recent },
    };
    this.#lastMessages = stats.messages;
    this.#lastUpdateAt = now;
    this.#routedSinceUpdate = 0;
    this.#lostSinceUpdate = 0;
    return update;
  }

  /** Drops what the feed remembers of removed servers: their ids never come back. */
  #forgetRemoved(): void {
    const members = new Set(this.#cluster.nodeIds);
    for (const remembered of [this.#lastAppendAt, this.#lastConfirmations]) {
      for (const id of remembered.keys()) if (!members.has(id)) remembered.delete(id);
    }
  }

  #nodeView(node: NodeInspection, now: number, elapsedSec: number): NodeView {
    const confirmations = node.detail?.durableLog.confirmations;
    const previous = this.#lastConfirmations.get(node.id);
    // A restarted server counts from 0 again: no rate for that interval.
    const syncsPerSec = confirmations === undefined || previous === undefined || confirmations < previous ? 0 : Math.round((confirmations - previous) / elapsedSec);
    if (confirmations === undefined) this.#lastConfirmations.delete(node.id);
    else this.#lastConfirmations.set(node.id, confirmations);
    const appendAt = this.#lastAppendAt.get(node.id);
    const msSinceAppend = node.alive && node.role !== 'leader' && appendAt !== undefined ? Math.round(now - appendAt) : null;
    return { ...node, state: stateShown(node), msSinceAppend, syncsPerSec };
  }
}
