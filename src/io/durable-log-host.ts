import { createActor, emit, setup, type ActorOptions, type ActorRefFrom, type AnyActorLogic } from 'xstate';
import { durableLogMachine, type DurableLogInput, type DurableLogReport, type DurableLogRequest } from '../../machines/durable-log.machine.ts';
import type { LogStorage } from '../protocol/storage.ts';
import { createDurableLog } from './storage-actors.ts';
import { TurnBatcher } from '../core/turn-batcher.ts';

/**
 * The durable-log chart's parent when no raft-server chart is there (benchmarks, tests, tools):
 * it invokes the chart and re-emits what the chart reports, so a host can listen with `on`.
 */
export const durableLogHostMachine = setup({
  types: {
    context: {} as { readonly input: DurableLogInput },
    events: {} as DurableLogReport,
    emitted: {} as DurableLogReport,
    input: {} as DurableLogInput,
  },
  actors: { durableLog: durableLogMachine },
  actions: {
    forwardReport: emit(({ event }) => event),
  },
}).createMachine({
  id: 'durableLogHost',
  description: 'Runs one durable log and passes its reports to the host.',
  context: ({ input }) => ({ input }),
  invoke: { id: 'durableLog', src: 'durableLog', input: ({ context }) => context.input },
  on: {
    'log.synced': { actions: 'forwardReport' },
    'log.failed': { actions: 'forwardReport' },
  },
});

export interface StartDurableLogOptions extends DurableLogInput {
  /** The clock of the retry backoff; default the real one. Tests pass XState's SimulatedClock. */
  readonly clock?: ActorOptions<AnyActorLogic>['clock'];
  /**
   * Told when the chart or a storage actor errors (a failed assert: a bug, never a disk failure).
   * Default: none, so XState rethrows the error and it crashes the process loudly.
   */
  readonly onError?: (error: unknown) => void;
}

/** A running durable log: requests in, reports out. */
export interface DurableLogHandle {
  /**
   * Hands one request to the durable log; its `seq` must exceed every earlier one. Requests sent in
   * one turn of the event loop reach the chart together, as one `log.requests` event at the end of
   * that turn (a microtask): one chart event per turn, not one per request, under many appenders.
   */
  send(request: DurableLogRequest): void;
  /** Calls `listener` with every report of that type; returns a function that stops listening. */
  on<T extends DurableLogReport['type']>(type: T, listener: (report: Extract<DurableLogReport, { type: T }>) => void): () => void;
  /** The durable-log chart's own actor, to inspect its state. */
  readonly actor: ActorRefFrom<typeof durableLogMachine>;
  /** Delivers the requests sent so far, then stops the chart; storage calls still running finish but report nothing. The storage stays open. */
  stop(): void;
}

/**
 * Starts the durable-log chart over `storage` as the child of durableLogHostMachine. Listen with
 * `on` before the first request. The caller owns `storage`: close it after stop().
 */
export function startDurableLog(storage: LogStorage, options: StartDurableLogOptions = {}): DurableLogHandle {
  const { clock, onError, ...input } = options;
  const machine = durableLogHostMachine.provide({ actors: { durableLog: createDurableLog(storage) } });
  // An explicit `clock: undefined` would replace XState's default clock, so it is left out instead.
  const host = createActor(machine, clock === undefined ? { input } : { input, clock });
  if (onError !== undefined) host.subscribe({ error: onError });
  host.start();
  const actor = host.getSnapshot().children.durableLog as ActorRefFrom<typeof durableLogMachine>;
  const pending = new TurnBatcher<DurableLogRequest>((requests) => actor.send({ type: 'log.requests', requests }), { end: 'microtask' });
  return {
    send: (request) => pending.push(request),
    on: (type, listener) => host.on(type, listener as never).unsubscribe,
    actor,
    stop: () => {
      pending.flush();
      host.stop();
    },
  };
}
