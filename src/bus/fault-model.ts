import { assert } from '../core/assert.ts';
import type { Random } from '../core/random.ts';
import type { NodeId } from '../protocol/types.ts';

/**
 * What the network does to each message: one pure model that both the simulator (virtual time)
 * and the real message bus (real timers) consult. It holds the link state (disconnected servers,
 * partitions, one-way cuts) and the reliability settings; `decide` turns one message into zero
 * (lost), one or two (duplicated) deliveries with their delays. All randomness comes from the
 * caller's seeded Random, so a seed replays the same fate for every message.
 */
export interface NetworkSettings {
  /** Probability a message is lost, in [0, 1]. */
  readonly dropRate: number;
  /** Probability a delivered message is delivered twice, in [0, 1]. */
  readonly duplicateRate: number;
  /** Each delivery is delayed uniformly in [delayMsMin, delayMsMax]. */
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Probability a delivery is held much longer (reordering far behind later messages), in [0, 1]. */
  readonly longDelayRate: number;
  readonly longDelayMsMin: number;
  readonly longDelayMsMax: number;
}

export const reliableNetwork: NetworkSettings = {
  dropRate: 0,
  duplicateRate: 0,
  delayMsMin: 0,
  delayMsMax: 0,
  longDelayRate: 0,
  longDelayMsMin: 200,
  longDelayMsMax: 2000,
};

/** The public API's `setReliable(false)`: drop ~10%, delay each 0–27 ms. */
export const unreliableNetwork: Pick<NetworkSettings, 'dropRate' | 'delayMsMin' | 'delayMsMax'> = {
  dropRate: 0.1,
  delayMsMin: 0,
  delayMsMax: 27,
};

/** The public API's `setLongReordering(true)`: some messages held 200–2000 ms. */
export const longReordering: Pick<NetworkSettings, 'longDelayRate' | 'longDelayMsMin' | 'longDelayMsMax'> = {
  longDelayRate: 0.05,
  longDelayMsMin: 200,
  longDelayMsMax: 2000,
};

/** Everything a NetworkModel holds, as plain data: what the cluster's controller sends each server's worker, whose sender applies the same model. */
export interface NetworkModelState {
  readonly settings: NetworkSettings;
  readonly disconnected: readonly NodeId[];
  readonly groups: readonly (readonly NodeId[])[] | null;
  readonly cutLinks: readonly (readonly [NodeId, NodeId])[];
}

export class NetworkModel {
  private settingsNow: NetworkSettings;
  private readonly disconnected = new Set<NodeId>();
  private groupOf: Map<NodeId, number> | null = null;
  private readonly cutLinks = new Set<string>();

  constructor(settings: Partial<NetworkSettings> = {}) {
    this.settingsNow = checkSettings({ ...reliableNetwork, ...settings });
  }

  get settings(): NetworkSettings {
    return this.settingsNow;
  }

  /** Changes some reliability settings; link state is untouched. */
  configure(settings: Partial<NetworkSettings>): void {
    this.settingsNow = checkSettings({ ...this.settingsNow, ...settings });
  }

  /** Every message to or from `id` is lost until connect(id). */
  disconnect(id: NodeId): void {
    this.disconnected.add(id);
  }

  connect(id: NodeId): void {
    this.disconnected.delete(id);
  }

  /** Only servers in one group exchange messages; a server in no group reaches nobody. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    const groupOf = new Map<NodeId, number>();
    groups.forEach((group, i) => {
      for (const id of group) {
        assert(!groupOf.has(id), `${id} is in two groups`);
        groupOf.set(id, i);
      }
    });
    this.groupOf = groupOf;
  }

  /** Messages from `from` to `to` are lost; the other direction still works. */
  cut(from: NodeId, to: NodeId): void {
    this.cutLinks.add(linkKey(from, to));
  }

  /** Every link up: no partition, no cut, nobody disconnected (reliability settings unchanged). */
  heal(): void {
    this.disconnected.clear();
    this.groupOf = null;
    this.cutLinks.clear();
  }

  /** True when the links let a message from `from` reach `to`, before any random loss. */
  isLinkUp(from: NodeId, to: NodeId): boolean {
    if (this.disconnected.has(from) || this.disconnected.has(to)) return false;
    if (this.cutLinks.has(linkKey(from, to))) return false;
    if (this.groupOf !== null) {
      const a = this.groupOf.get(from);
      return a !== undefined && a === this.groupOf.get(to);
    }
    return true;
  }

  /** The fate of one message: the delays of its deliveries; empty when it is lost. */
  decide(from: NodeId, to: NodeId, random: Random): number[] {
    if (!this.isLinkUp(from, to)) return [];
    const s = this.settingsNow;
    if (s.dropRate > 0 && random.chance(s.dropRate)) return [];
    const copies = s.duplicateRate > 0 && random.chance(s.duplicateRate) ? 2 : 1;
    const delays: number[] = [];
    for (let i = 0; i < copies; i++) {
      const long = s.longDelayRate > 0 && random.chance(s.longDelayRate);
      delays.push(long ? random.int(s.longDelayMsMin, s.longDelayMsMax) : s.delayMsMax > s.delayMsMin ? random.int(s.delayMsMin, s.delayMsMax) : s.delayMsMin);
    }
    return delays;
  }

  /** The whole model as plain data (structured-cloneable). */
  state(): NetworkModelState {
    let groups: NodeId[][] | null = null;
    if (this.groupOf !== null) {
      const byGroup = new Map<number, NodeId[]>();
      for (const [id, g] of this.groupOf) byGroup.set(g, [...(byGroup.get(g) ?? []), id]);
      groups = [...byGroup.entries()].sort((a, b) => a[0] - b[0]).map(([, ids]) => ids);
    }
    return {
      settings: this.settingsNow,
      disconnected: [...this.disconnected],
      groups,
      cutLinks: [...this.cutLinks].map((key) => key.split('->') as [NodeId, NodeId]),
    };
  }

  /** Takes on `state` whole (another model's state()). */
  load(state: NetworkModelState): void {
    this.settingsNow = checkSettings({ ...state.settings });
    this.disconnected.clear();
    for (const id of state.disconnected) this.disconnected.add(id);
    this.groupOf = null;
    if (state.groups !== null) this.partition(state.groups);
    this.cutLinks.clear();
    for (const [from, to] of state.cutLinks) this.cut(from, to);
  }

  /** A readable summary of the link state, for traces. */
  describe(): string {
    const parts: string[] = [];
    if (this.disconnected.size > 0) parts.push(`disconnected ${[...this.disconnected].join(',')}`);
    if (this.groupOf !== null) {
      const groups = new Map<number, NodeId[]>();
      for (const [id, g] of this.groupOf) groups.set(g, [...(groups.get(g) ?? []), id]);
      parts.push(`partition ${[...groups.values()].map((g) => g.join(',')).join(' | ')}`);
    }
    if (this.cutLinks.size > 0) parts.push(`cut ${[...this.cutLinks].join(' ')}`);
    return parts.length === 0 ? 'all links up' : parts.join('; ');
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}

function checkSettings(s: NetworkSettings): NetworkSettings {
  for (const key of ['dropRate', 'duplicateRate', 'longDelayRate'] as const) {
    assert(s[key] >= 0 && s[key] <= 1, `${key} ${s[key]} outside [0, 1]`);
  }
  assert(s.delayMsMin >= 0 && s.delayMsMax >= s.delayMsMin, `delay range [${s.delayMsMin}, ${s.delayMsMax}]`);
  assert(s.longDelayMsMin >= 0 && s.longDelayMsMax >= s.longDelayMsMin, `long delay range [${s.longDelayMsMin}, ${s.longDelayMsMax}]`);
  return s;
}
