import { roleOf } from '../../machines/raft-server.machine.ts';
import { ServerHost } from '../host/server-host.ts';
import type { Entry, NodeId } from '../protocol/types.ts';
import { DigestStateMachine } from './digest-state-machine.ts';
import { VirtualClock } from './virtual-clock.ts';
import { scheduleOn, VirtualDisk, virtualDiskActors } from './virtual-disk.ts';
import { Random } from '../core/random.ts';

export interface DemoOptions {
  readonly nodes: number;
  readonly commands: number;
  readonly seed: number;
  readonly print: (line: string) => void;
}

/**
 * A simulated cluster, narrated: servers elect a leader, a client proposes a few commands, every
 * server applies them. Virtual time, virtual network (1–5 ms per message) and virtual disks (1 ms syncs).
 */
export function runDemo(options: DemoOptions): { leader: NodeId | null; applied: Map<NodeId, Entry[]> } {
  const clock = new VirtualClock();
  const network = new Random(options.seed, 'demo/network');
  const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const hosts = new Map<NodeId, ServerHost>();
  const applied = new Map<NodeId, Entry[]>();
  const decoder = new TextDecoder();
  const at = () => `${String(clock.now).padStart(5)} ms`;
  for (const id of ids) {
    const disk = new VirtualDisk();
    let role = 'follower';
    const host = new ServerHost({
      input: { id, servers: ids, randomSeed: options.seed },
      recovered: disk.recover(),
      storage: virtualDiskActors(disk, scheduleOn(clock), () => 1),
      transport: { send: (message) => clock.setTimeout(() => hosts.get(message.to)?.deliver(message), network.int(1, 5)) },
      stateMachine: new DigestStateMachine(),
      clock,
      hooks: {
        onApplied: (entries) => {
          applied.get(id)?.push(...entries);
          for (const entry of entries) {
            const what = entry.kind === 'noop' ? 'no-op' : `"${decoder.decode(entry.command)}"`;
            options.print(`${at()}  ${id} applies #${entry.index} (term ${entry.term}): ${what}`);
          }
        },
        onStep: (snapshot) => {
          const now = roleOf(snapshot);
          if (now === role) return;
          role = now;
          options.print(`${at()}  ${id} becomes ${now} in term ${snapshot.context.currentTerm}`);
        },
      },
    });
    applied.set(id, []);
    hosts.set(id, host);
  }
  options.print(`${options.nodes} simulated servers start as followers (election timeouts 150–300 ms)`);
  for (const host of hosts.values()) host.start();
  const leaderOf = () => ids.find((id) => hosts.get(id)?.actor.getSnapshot().matches('leader')) ?? null;
  clock.runUntil(1000);
  const leader = leaderOf();
  if (leader !== null) {
    const encoder = new TextEncoder();
    const commands = Array.from({ length: options.commands }, (_, i) => encoder.encode(`set x=${i + 1}`));
    options.print(`${at()}  client proposes ${commands.length} commands to ${leader}`);
    hosts.get(leader)?.propose(commands, {});
    clock.runUntil(clock.now + 200);
  }
  for (const host of hosts.values()) host.stop();
  return { leader, applied };
}
