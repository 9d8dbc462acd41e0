import type { LocalCluster } from '../cluster/local-cluster.ts';
import { RaftchartError } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { encodeKeyValueCommand } from '../host/key-value-store.ts';

/** The most commands one `propose` from the page may ask for. */
export const proposeCountMax = 1000;

/** A request from the page: `id` comes back in the reply. */
export type InspectorCommand =
  | { readonly command: 'crash' | 'restart' | 'disconnect' | 'connect' | 'failDisk'; readonly node: NodeId }
  | { readonly command: 'partition'; readonly groups: NodeId[][] }
  | { readonly command: 'heal' | 'pause' | 'resume' }
  | { readonly command: 'setReliable'; readonly reliable: boolean }
  /** `count` key-value `set` commands on `node`, or on the current leader when omitted. */
  | { readonly command: 'propose'; readonly node?: NodeId; readonly count: number };

/** The answer to one request: what happened, or why not (a RaftchartError's code and message). */
export type InspectorReply =
  | { readonly type: 'reply'; readonly id: number | null; readonly ok: true; readonly text: string }
  | { readonly type: 'reply'; readonly id: number | null; readonly ok: false; readonly code: string; readonly message: string };

const nodeCommands = new Set(['crash', 'restart', 'disconnect', 'connect', 'failDisk']);
const plainCommands = new Set(['heal', 'pause', 'resume']);
const commandNames = ['crash', 'restart', 'disconnect', 'connect', 'failDisk', 'partition', 'heal', 'pause', 'resume', 'setReliable', 'propose'];

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
 * RaftchartError (UnknownNode, NotLeader, InvalidOptions, …) when it refuses.
 */
export async function runCommand(cluster: LocalCluster, command: InspectorCommand, context: { readonly leader: NodeId | undefined; nextKey(): number }): Promise<string> {
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
  }
}

async function propose(cluster: LocalCluster, node: NodeId | undefined, count: number, context: { nextKey(): number }): Promise<string> {
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
