import { describe, expect, it } from 'vitest';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';

/** One transition of the chart, by state ids: `event` is '' for an eventless (`always`) transition. */
interface Edge {
  source: string;
  target: string;
  event: string;
  guard: string | undefined;
  reenter: boolean;
}

function guardName(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String(guard.type);
  return guard === undefined ? undefined : '(inline)';
}

function nodesOf(node: DirectedGraphNode): DirectedGraphNode[] {
  return [node, ...node.children.flatMap(nodesOf)];
}

const nodes = nodesOf(toDirectedGraph(raftServerMachine));
const stateIds = nodes.map((node) => node.id);
const edges: Edge[] = nodes.flatMap((node) => [
  ...node.edges.map((edge) => ({
    source: edge.source.id,
    target: edge.target.id,
    event: edge.transition.eventType,
    guard: guardName(edge.transition.guard),
    reenter: edge.transition.reenter,
  })),
  // toDirectedGraph lists only transitions taken on an event; the eventless ones live in `always`.
  ...(node.stateNode.always ?? []).flatMap((transition) =>
    (transition.target ?? []).map((target) => ({
      source: node.id,
      target: target.id,
      event: '',
      guard: guardName(transition.guard),
      reenter: transition.reenter,
    })),
  ),
]);

const rpcEvents = ['rpc.requestVote', 'rpc.requestVote.reply', 'rpc.appendEntries', 'rpc.appendEntries.reply'];

describe('raft-server chart as a graph (§5.1, Figure 4)', () => {
  it('has the roles of Figure 4 and the transitions between them', () => {
    expect(stateIds).toEqual(
      expect.arrayContaining([
        'raftServer.follower',
        'raftServer.candidate',
        'raftServer.candidate.persistingVote',
        'raftServer.candidate.requestingVotes',
        'raftServer.leader',
        'raftServer.failed',
      ]),
    );

    // follower → candidate: times out, starts election.
    expect(edges).toContainEqual(
      expect.objectContaining({
        source: 'raftServer.follower',
        target: 'raftServer.candidate',
        event: 'xstate.after.electionTimeout.raftServer.follower',
      }),
    );
    // candidate → candidate: times out, new election (entered again, so a new term and a new timeout).
    expect(edges).toContainEqual({
      source: 'raftServer.candidate',
      target: 'raftServer.candidate',
      event: 'xstate.after.electionTimeout.raftServer.candidate',
      guard: undefined,
      reenter: true,
    });
    // candidate → leader: receives votes from a majority of servers.
    expect(edges).toContainEqual(
      expect.objectContaining({
        source: 'raftServer.candidate.requestingVotes',
        target: 'raftServer.leader',
        event: '',
        guard: 'hasVoteQuorum',
      }),
    );
    // candidate → follower: discovers the current leader.
    expect(edges).toContainEqual(
      expect.objectContaining({
        source: 'raftServer.candidate',
        target: 'raftServer.follower',
        event: 'rpc.appendEntries',
        guard: 'isCurrentTerm',
      }),
    );
    // leader (and candidate) → follower: discovers a server with a higher term, on any of the four messages.
    for (const event of rpcEvents) {
      expect(edges).toContainEqual(
        expect.objectContaining({ source: 'raftServer', target: 'raftServer.follower', event, guard: 'hasHigherTerm' }),
      );
    }
    // The root transition is reached only if no role handles a higher term itself: every RPC
    // transition of follower, candidate and leader is guarded.
    const roleRpcEdges = edges.filter(
      (edge) => /^raftServer\.(follower|candidate|leader)/.test(edge.source) && rpcEvents.includes(edge.event),
    );
    expect(roleRpcEdges.filter((edge) => edge.guard === undefined)).toEqual([]);
    // A storage failure stops the server.
    expect(edges).toContainEqual(expect.objectContaining({ source: 'raftServer', target: 'raftServer.failed', event: 'log.failed' }));
    // Reference: section 5.1
  });
});
