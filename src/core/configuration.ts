import { assert } from './assert.ts';
import type { Entry, NodeId } from '../protocol/types.ts';

/**
 * Cluster membership (dissertation ch. 4). A configuration is a log entry of kind 'config'; a
 * server uses the newest one in its log, committed or not (§4.1). Voters elect and count toward
 * every quorum; learners (§4.2.1) receive the log and count toward none.
 */
export interface Configuration {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** One membership change, one server at a time (§4.1): the only kind raftchart makes. */
export interface ConfigChange {
  readonly type: 'addLearner' | 'promote' | 'remove';
  readonly id: NodeId;
}

/** A configuration and the log index of the entry that set it (0: the cluster's initial one, or a snapshot's). */
export interface IndexedConfiguration {
  readonly index: number;
  readonly configuration: Configuration;
}

/** The most servers a configuration may name. */
export const configurationServersMax = 1024;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** A config entry's command: the configuration as UTF-8 JSON. */
export function encodeConfiguration(configuration: Configuration): Uint8Array {
  return utf8.encode(JSON.stringify({ voters: configuration.voters, learners: configuration.learners }));
}

/** The configuration a config entry's command holds, or null when it holds none (a malformed entry). */
export function decodeConfiguration(bytes: Uint8Array): Configuration | null {
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(bytes));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { voters, learners } = value as Record<string, unknown>;
  if (!isIdList(voters) || !isIdList(learners)) return null;
  if (voters.length + learners.length > configurationServersMax) return null;
  if (new Set([...voters, ...learners]).size !== voters.length + learners.length) return null;
  return { voters, learners };
}

function isIdList(value: unknown): value is NodeId[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 1024);
}

/** The configuration of config entry `entry` (asserted well formed: a leader wrote it). */
export function configurationOf(entry: Entry): Configuration {
  const configuration = decodeConfiguration(entry.command);
  if (configuration === null) assert(false, `config entry ${entry.index} holds no configuration`);
  return configuration;
}

/** Why `change` cannot be made to `configuration`, or null when it can (the leader's own checks; catching up is the chart's). */
export function changeProblem(configuration: Configuration, change: ConfigChange): 'exists' | 'unknownServer' | 'notLearner' | 'lastVoter' | null {
  const isVoter = configuration.voters.includes(change.id);
  const isLearner = configuration.learners.includes(change.id);
  switch (change.type) {
    case 'addLearner':
      return isVoter || isLearner ? 'exists' : null;
    case 'promote':
      if (isLearner) return null;
      return isVoter ? 'notLearner' : 'unknownServer';
    case 'remove':
      if (!isVoter && !isLearner) return 'unknownServer';
      return isVoter && configuration.voters.length === 1 ? 'lastVoter' : null;
  }
}

/** `configuration` after `change` (which changeProblem allowed): at most one voter more or less (§4.1). */
export function applyChange(configuration: Configuration, change: ConfigChange): Configuration {
  const without = (ids: readonly NodeId[]) => ids.filter((id) => id !== change.id);
  switch (change.type) {
    case 'addLearner':
      return { voters: configuration.voters, learners: [...configuration.learners, change.id] };
    case 'promote':
      return { voters: [...configuration.voters, change.id], learners: without(configuration.learners) };
    case 'remove':
      return { voters: without(configuration.voters), learners: without(configuration.learners) };
  }
}

/** The newest configuration of `history` (ordered by index; never empty). */
export function currentOf(history: readonly IndexedConfiguration[]): IndexedConfiguration {
  return history[history.length - 1];
}

/** The configuration in force at log index `index`: the newest in `history` at or below it. */
export function configurationAt(history: readonly IndexedConfiguration[], index: number): Configuration {
  for (let i = history.length - 1; i >= 0; i--) if (history[i].index <= index) return history[i].configuration;
  return history[0].configuration;
}

/** `history` with the config entries among `entries` (appended, in order) added. Returns `history` itself when there are none. */
export function withAppended(history: readonly IndexedConfiguration[], entries: readonly Entry[]): readonly IndexedConfiguration[] {
  let next: IndexedConfiguration[] | null = null;
  for (const entry of entries) {
    if (entry.kind !== 'config') continue;
    next ??= [...history];
    next.push({ index: entry.index, configuration: configurationOf(entry) });
  }
  return next ?? history;
}

/** `history` without the configurations of entries at `fromIndex` or later (a follower's log truncated there, §5.3). */
export function withTruncated(history: readonly IndexedConfiguration[], fromIndex: number): readonly IndexedConfiguration[] {
  if (currentOf(history).index < fromIndex) return history;
  const kept = history.filter((item, i) => i === 0 || item.index < fromIndex);
  return kept;
}

/** `history` once the log is compacted through `baseIndex`: the configuration in force there becomes the first. */
export function withCompacted(history: readonly IndexedConfiguration[], baseIndex: number): readonly IndexedConfiguration[] {
  let first = 0;
  while (first + 1 < history.length && history[first + 1].index <= baseIndex) first++;
  return first === 0 ? history : history.slice(first);
}

/** The servers other than `self` that a leader with `configuration` replicates to: every voter and learner. */
export function peersOf(configuration: Configuration, self: NodeId): NodeId[] {
  const peers: NodeId[] = [];
  for (const id of configuration.voters) if (id !== self) peers.push(id);
  for (const id of configuration.learners) if (id !== self) peers.push(id);
  return peers;
}
