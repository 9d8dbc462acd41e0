import { createActor, type Actor } from 'xstate';
import { durableLogMachine } from '../../machines/durable-log.machine.ts';
import { raftServerMachine, type RaftServerInput } from '../../machines/raft-server.machine.ts';
import { virtualDiskActors, type Schedule, type VirtualDisk } from './virtual-disk.ts';
import type { VirtualClock } from './virtual-clock.ts';

export type RaftServerActor = Actor<typeof raftServerMachine>;

export interface ServerActorOptions {
  readonly input: RaftServerInput;
  readonly clock: VirtualClock;
  /** The virtual disk behind the durable log; omit for the chart's default volatile log. */
  readonly disk?: VirtualDisk;
  readonly syncLatencyMs?: () => number;
  /** How the disk's completions are scheduled; defaults to `clock`. Tests use it to hold syncs. */
  readonly schedule?: Schedule;
  /** The chart to run: the real one, or a mutant made with `raftServerMachine.provide(...)`. */
  readonly machine?: typeof raftServerMachine;
}

/** Creates (not starts) a raft-server actor on `clock`, its durable log backed by `disk` when given. */
export function createServerActor(options: ServerActorOptions): RaftServerActor {
  const machine = options.machine ?? raftServerMachine;
  const { clock, disk } = options;
  if (disk === undefined) return createActor(machine, { input: options.input, clock });
  const schedule: Schedule = options.schedule ?? ((delayMs, run) => {
    const handle = clock.setTimeout(run, delayMs);
    return () => clock.clearTimeout(handle);
  });
  const durableLog = durableLogMachine.provide({ actors: virtualDiskActors(disk, schedule, options.syncLatencyMs ?? (() => 0)) });
  return createActor(machine.provide({ actors: { durableLog } }), { input: options.input, clock });
}
