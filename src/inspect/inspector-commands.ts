import type { ConfigChangeResult } from '../cluster/local-cluster.ts';
import type { ViewedCluster } from '../cluster/viewed-cluster.ts';
import { hasErrorCode, RaftchartError } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { encodeKeyValueCommand } from '../host/key-value-store.ts';
import type { ServerIds } from './server-ids.ts';

/** The most commands one `propose` from the page may ask for. */
export const proposeCountMax = 1000;
/**
 * Ids one `addLearner` without a `node` tries: the cluster refuses (InvalidOptions) an id removed
 * before this process watched it (a data folder used again), and the next one is tried.
 */
export const learnerIdAttemptsMax = 16;

/** A request from the page: `id` comes back in the reply. */
export type InspectorCommand =
  | { readonly command: 'crash' | 'restart' | 'disconnect' | 'connect' | 'failDisk' | 'promote' | 'remove'; readonly node: NodeId }
  /** A new server as a learner (§4.2.1): under `node`, or under the next free id (ServerIds) when omitted. */
  | { readonly command: 'addLearner'; readonly node?: NodeId }
  | { readonly command: 'partition'; readonly groups: NodeId[][] }
  | { readonly command: 'heal' | 'pause' | 'resume' }
  | { readonly command: 'setReliable'; readonly reliable: boolean }
  /** `count` key-value `set` commands on `node`, or on the current leader when omitted. */
  | { readonly command: 'propose'; readonly node?: NodeId; readonly count: number };

/** The answer to one request: what happened, or why not (a RaftchartError's code and message). */
export type InspectorReply =
  | { readonly type: 'reply'; readonly id: number | null; readonly ok: true; readonly text: string }
  | { readonly type: 'reply'; readonly id: number | null; readonly ok: false; readonly code: string; readonly message: string };

/** What a command needs besides the cluster: the leader the page last saw, and counters the inspector keeps. */
export interface CommandContext {
  readonly leader: NodeId | undefined;
  /** A fresh number for the key of each proposed command. */
  nextKey(): number;
  /** Ids for servers added without one. */
  readonly serverIds: ServerIds;
}

const nodeCommands = new Set(['crash', 'restart', 'disconnect', 'connect', 'failDisk', 'promote', 'remove']);
const plainCommands = new Set(['heal', 'pause', 'resume']);
const commandNames = ['crash', 'restart', 'disconnect', 'connect', 'failDisk', 'partition', 'heal', 'pause', 'resume', 'setReliable', 'propose', 'addLearner', 'promote', 'remove'];

function invalid(message: string): RaftchartError {
  return new RaftchartError('InvalidCommand', `${message}. Commands: ${commandNames.join(', ')}.`);
}

/** The request id of a parsed message, when it carries a usable one. */
export function requestIdOf(message: unknown): number | null {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof message === 'object' && Number.isSafeInteger(id) ? (id as number) : null;
}

/**
 * Checks a page's request (already JSON-parsed, untrusted) and returns it typed; InvalidCommand
 * naming what is wrong otherwise. Node ids are checked later, by the cluster (UnknownNode).
 */
export function parseCommand(message: unknown): InspectorCommand {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) throw invalid('a request must be a JSON object like {"id":1,"command":"heal"}');
  const request = message as Record<string, unknown>;
  const command = request.command;
  if (typeof command !== 'string' || !commandNames.includes(command)) throw invalid(`unknown command ${JSON.stringify(command) ?? 'undefined'}`);
  if (nodeCommands.has(command)) {
    if (typeof request.node !== 'string') throw invalid(`${command} needs "node", a server id like "n1"`);
    return { command: command as 'crash', node: request.node };
  }
  if (plainCommands.has(command)) return { command: command as 'heal' };
  if (command === 'addLearner') {
    if (request.node !== undefined && typeof request.node !== 'string') throw invalid('addLearner takes "node" as a new server id like "n4", or none for the next free one');
    return request.node === undefined ? { command } : { command, node: request.node };
  }
  if (command === 'partition') {
    const groups = request.groups;
    if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g) && g.every((id) => typeof id === 'string'))) {
      throw invalid('partition needs "groups", arrays of server ids like [["n1"],["n2","n3"]]');
    }
    return { command, groups: groups as NodeId[][] };
  }
  if (command === 'setReliable') {
    if (typeof request.reliable !== 'boolean') throw invalid('setReliable needs "reliable": true or false');
    return { command, reliable: request.reliable };
  }
  const count = request.count;
  if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > proposeCountMax) {
    throw invalid(`propose needs "count", a whole number from 1 to ${proposeCountMax}`);
  }
  if (request.node !== undefined && typeof request.node !== 'string') throw invalid('propose takes "node" as a server id like "n1", or none for the leader');
  return { command: 'propose', count: count as number, ...(request.node === undefined ? {} : { node: request.node as NodeId }) };
}

/**
 * Carries out a checked request on `cluster` and says what happened. Throws the cluster's
 * RaftchartError (UnknownNode, NotLeader, InvalidOptions, …; for membership changes also
 * ConfigChangeInProgress, LearnerNotCaughtUp, Timeout) when it refuses.
 */
export async function runCommand(cluster: ViewedCluster, command: InspectorCommand, context: CommandContext): Promise<string> {
  switch (command.command) {
    case 'crash':
      await cluster.crash(command.node);
      return `${command.node} crashed`;
    case 'restart':
      await cluster.restart(command.node);
      return `${command.node} restarted`;
    case 'disconnect':
      cluster.network.disconnect(command.node);
      return `${command.node} disconnected`;
    case 'connect':
      cluster.network.connect(command.node);
      return `${command.node} connected`;
    case 'failDisk':
      // Writes, not fdatasyncs: a cluster without fsync never calls fdatasync.
      await cluster.failDisk(command.node, { operation: 'write', code: 'EIO' });
      return `${command.node}: every write to its log fails now; its durable log retries, then stops the server (restart gives it a working disk)`;
    case 'partition':
      cluster.network.partition(command.groups);
      return `partition ${command.groups.map((g) => g.join(',')).join(' | ')}`;
    case 'heal':
      cluster.network.heal();
      return 'every link up';
    case 'pause':
      cluster.network.pause();
      return 'bus paused: messages held';
    case 'resume':
      cluster.network.resume();
      return 'bus resumed: held messages released';
    case 'setReliable':
      cluster.network.setReliable(command.reliable);
      return command.reliable ? 'network reliable' : 'network unreliable: ~10% lost, 0-27 ms delay';
    case 'propose':
      return propose(cluster, command.node ?? context.leader, command.count, context);
    case 'addLearner': {
      const { id, result } = await addLearner(cluster, command.node, context.serverIds);
      return `${id} added as a learner (entry ${result.index}): ${configurationText(result)}`;
    }
    case 'promote': {
      const result = await cluster.promote(command.node);
      return `${command.node} promoted to voter (entry ${result.index}): ${configurationText(result)}`;
    }
    case 'remove': {
      const result = await cluster.removeServer(command.node);
      return `${command.node} removed and stopped (entry ${result.index}): ${configurationText(result)}`;
    }
  }
}

/** A configuration as the page and the terminal show it: `voters: n1 n2 n3 · learners: n4`. */
export function configurationText(configuration: Pick<ConfigChangeResult, 'voters' | 'learners'>): string {
  const learners = configuration.learners.length === 0 ? '' : ` · learners: ${configuration.learners.join(' ')}`;
  return `voters: ${configuration.voters.join(' ')}${learners}`;
}

/** addLearner under `node`, or under the next free id, trying later ones while the cluster refuses an id as used before. */
async function addLearner(cluster: ViewedCluster, node: NodeId | undefined, serverIds: ServerIds): Promise<{ id: NodeId; result: ConfigChangeResult }> {
  if (node !== undefined) return { id: node, result: await cluster.addLearner(node) };
  for (let attempt = 1; ; attempt++) {
    const id = serverIds.next(cluster.nodeIds);
    try {
      return { id, result: await cluster.addLearner(id) };
    } catch (error) {
      if (hasErrorCode(error, 'InvalidOptions') && attempt < learnerIdAttemptsMax) continue;
      // Any other refusal took the new server away again, so its id is free; after a Timeout it stays.
      if (!hasErrorCode(error, 'InvalidOptions') && !hasErrorCode(error, 'Timeout')) serverIds.release(id);
      throw error;
    }
  }
}

async function propose(cluster: ViewedCluster, node: NodeId | undefined, count: number, context: Pick<CommandContext, 'nextKey'>): Promise<string> {
  if (node === undefined) throw new RaftchartError('NotLeader', 'no leader is known yet: wait for one, or name a server.');
  const results = await Promise.all(
    Array.from({ length: count }, () => {
      const key = context.nextKey();
      return cluster.propose(node, encodeKeyValueCommand({ op: 'set', key: `k${key}`, value: key }));
    }),
  );
  const accepted = results.filter((r) => r.isLeader);
  if (accepted.length === 0) throw new RaftchartError('NotLeader', `${node} is not the leader: propose on the leader.`, { id: node });
  return `${node} appended ${accepted.length} of ${count} at [${accepted[0].index}, ${accepted[accepted.length - 1].index}] in term ${accepted[0].term}`;
}
