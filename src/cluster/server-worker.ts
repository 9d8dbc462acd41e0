import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { MessageBus } from '../bus/message-bus.ts';
import { RaftchartError, type ErrorCode } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { packCommands } from '../protocol/packed-entries.ts';
import type { ServerInspectionEvent } from '../io/inspection-events.ts';
import type {
  AppliedBatch,
  ClientReply,
  DiskFault,
  ProposeRequest,
  ReadyResult,
  RestoredSnapshot,
  SnapshotOutcome,
  StatusDetailRequest,
  WorkerControl,
  WorkerCounters,
  WorkerSetup,
  WorkerStatus,
} from '../io/worker-protocol.ts';

/** Proposals waiting in one turn before they travel as one message; past this the batch is sent at once. */
export const proposalBatchMax = 8192;
/** How long a graceful shutdown may take before the worker is terminated anyway. */
export const shutdownMsMax = 2000;

/** The worker's setup, less the ports this side creates, plus the bus and the listeners. */
export interface ServerWorkerOptions extends Omit<WorkerSetup, 'busPort' | 'clientPort' | 'inspectPort'> {
  readonly bus: MessageBus;
  /** The worker's inspection events, an array per turn, while this incarnation lives; omitted: inspection off. */
  readonly onInspection?: (events: readonly ServerInspectionEvent[]) => void;
  /** Applied entries, in order, while this incarnation lives. */
  readonly onApplied: (batch: AppliedBatch) => void;
  /** The worker's state machine was restored from a snapshot; applied entries continue after it. */
  readonly onRestored: (restored: RestoredSnapshot) => void;
  /** The worker died on its own (an uncaught error): not called after crash() or shutdown(). */
  readonly onDied: (error: unknown) => void;
}

export interface ProposeOutcome {
  readonly isLeader: boolean;
  readonly index: number;
  readonly term: number;
}

interface ProposalBatch {
  readonly commands: Uint8Array[];
  /** Called in the same turn the answer arrives, before any later reply (an apply) is handled. */
  readonly resolvers: ((outcome: ProposeOutcome) => void)[];
}

/** Where the worker's code is: the tsx bootstrap from the sources, the compiled entry from dist/. */
function workerUrl(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? '../io/worker-bootstrap.mjs' : '../io/worker-entry.js', import.meta.url);
}

/**
 * The main thread's handle on one incarnation of one server's worker. Data plane: proposals made
 * in one turn go as one message; answers and applied entries come back in arrays. Control plane:
 * Comlink. After crash() or shutdown() resolves, nothing more from this incarnation is delivered.
 */
export class ServerWorker {
  readonly id: NodeId;
  #alive = true;
  readonly #worker: Worker;
  readonly #remote: Comlink.Remote<WorkerControl>;
  readonly #clientPort: MessagePort;
  readonly #inspectPort: MessagePort | null;
  readonly #busPort: MessagePort;
  readonly #options: ServerWorkerOptions;
  readonly #exited: Promise<never>;
  #nextRequestId = 1;
  #batch: ProposalBatch | null = null;
  readonly #awaiting = new Map<number, ProposalBatch>();
  #lastTerm = 0;

  private constructor(options: ServerWorkerOptions) {
    this.id = options.id;
    this.#options = options;
    const bus = new MessageChannel();
    const client = new MessageChannel();
    const inspect = options.onInspection === undefined ? null : new MessageChannel();
    const setup: WorkerSetup = {
      id: options.id,
      servers: options.servers,
      dir: options.dir,
      fsync: options.fsync,
      diskFaults: options.diskFaults,
      breakLock: options.breakLock,
      randomSeed: options.randomSeed,
      config: options.config,
      stateMachineModule: options.stateMachineModule,
      busPort: bus.port2,
      clientPort: client.port2,
      inspectPort: inspect?.port2 ?? null,
    };
    const transferList = inspect === null ? [bus.port2, client.port2] : [bus.port2, client.port2, inspect.port2];
    this.#worker = new Worker(workerUrl(), { workerData: setup, transferList, name: `raftchart ${options.id}` });
    this.#exited = new Promise<never>((_, reject) => {
      this.#worker.on('error', (error) => {
        if (this.#alive) {
          this.#die();
          options.onDied(error);
        }
        reject(error);
      });
      this.#worker.on('exit', (code) => {
        if (this.#alive) {
          this.#die();
          options.onDied(new Error(`worker ${options.id} exited with code ${code}`));
        }
        reject(new RaftchartError('Stopped', `server ${options.id} is not running: restart it first.`));
      });
    });
    this.#exited.catch(() => undefined);
    options.bus.attach(options.id, bus.port1);
    this.#busPort = bus.port1;
    client.port1.on('message', (batch: ClientReply[]) => this.#onReplies(batch));
    this.#clientPort = client.port1;
    this.#inspectPort = inspect?.port1 ?? null;
    this.#inspectPort?.on('message', (events: ServerInspectionEvent[]) => {
      if (this.#alive) options.onInspection?.(events);
    });
    this.#remote = Comlink.wrap<WorkerControl>(nodeEndpoint(this.#worker));
  }

  /**
   * Starts a worker and waits until its log is open and recovered; throws the worker's error code
   * otherwise. The chart runs only after run(), so a cluster can attach every server first.
   */
  static async start(options: ServerWorkerOptions): Promise<ServerWorker> {
    const server = new ServerWorker(options);
    try {
      const ready: ReadyResult = await server.#call<ReadyResult>(() => server.#remote.ready());
      if (!ready.ok) throw new RaftchartError(ready.code as ErrorCode, `server ${options.id} could not start: ${ready.message}`);
    } catch (error) {
      await server.crash();
      throw error;
    }
    return server;
  }

  /** Starts the server's chart (timers, messages, proposals). */
  async run(): Promise<void> {
    await this.#call(() => this.#remote.run());
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Queues `command` into this turn's batch; resolves with the chart's answer ({isLeader:false} once dead). */
  propose(command: Uint8Array): Promise<ProposeOutcome> {
    return new Promise((resolve) => this.submit(command, resolve));
  }

  /**
   * Like propose() without a promise: `onAnswer` is called exactly once, in the turn the answer
   * arrives and before any apply that follows it (at once with {isLeader:false} when dead).
   */
  submit(command: Uint8Array, onAnswer: (outcome: ProposeOutcome) => void): void {
    if (!this.#alive) {
      onAnswer(this.#notLeader());
      return;
    }
    if (this.#batch === null) {
      this.#batch = { commands: [], resolvers: [] };
      setImmediate(() => this.#sendBatch());
    }
    this.#batch.commands.push(command);
    this.#batch.resolvers.push(onAnswer);
    if (this.#batch.commands.length >= proposalBatchMax) this.#sendBatch();
  }

  /**
   * The chart's status, with its detail when `request` asks (for the inspector); null when this
   * incarnation is not running (LocalCluster then reports what it last knew).
   */
  async status(request?: StatusDetailRequest): Promise<WorkerStatus | null> {
    if (!this.#alive) return null;
    try {
      const status = await this.#call(() => this.#remote.status(request));
      this.#lastTerm = Math.max(this.#lastTerm, status.term);
      return status;
    } catch (error) {
      if (this.#alive) throw error;
      return null;
    }
  }

  async counters(): Promise<WorkerCounters> {
    return this.#call(() => this.#remote.counters());
  }

  /** Takes a snapshot now (WorkerControl.snapshot); 'stopped' when the worker dies meanwhile. */
  async snapshot(): Promise<SnapshotOutcome> {
    return this.#call<SnapshotOutcome>(() => this.#remote.snapshot());
  }

  /** Breaks this worker's disk (see WorkerControl.failDisk); false when it runs without diskFaults. */
  async failDisk(fault: DiskFault): Promise<boolean> {
    return this.#call(() => this.#remote.failDisk(fault));
  }

  /** Ends the worker abruptly, no goodbye: once resolved nothing more from it is delivered. */
  async crash(): Promise<void> {
    this.#die();
    await this.#worker.terminate();
  }

  /** Stops the chart and closes the log (releasing its folder lock), then ends the worker. */
  async shutdown(): Promise<void> {
    if (this.#alive) {
      const closing = this.#call(() => this.#remote.shutdown());
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, shutdownMsMax).unref());
      await Promise.race([closing.catch(() => undefined), timeout]);
    }
    await this.crash();
  }

  /** Marks this incarnation dead at once: ports closed, waiting proposals answered "not leader". */
  #die(): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#options.bus.detach(this.id, this.#busPort);
    this.#clientPort.close();
    this.#inspectPort?.close();
    const batches = [...this.#awaiting.values()];
    if (this.#batch !== null) batches.push(this.#batch);
    this.#awaiting.clear();
    this.#batch = null;
    for (const batch of batches) for (const resolve of batch.resolvers) resolve(this.#notLeader());
  }

  #notLeader(): ProposeOutcome {
    return { isLeader: false, index: 0, term: this.#lastTerm };
  }

  #sendBatch(): void {
    const batch = this.#batch;
    if (batch === null || !this.#alive) return;
    this.#batch = null;
    const requestId = this.#nextRequestId++;
    this.#awaiting.set(requestId, batch);
    const request: ProposeRequest = { requestId, commands: packCommands(batch.commands) };
    this.#clientPort.postMessage(request);
  }

  #onReplies(batch: readonly ClientReply[]): void {
    if (!this.#alive) return;
    for (const reply of batch) {
      if (reply.type === 'applied') {
        this.#options.onApplied(reply);
        continue;
      }
      if (reply.type === 'restored') {
        this.#options.onRestored(reply);
        continue;
      }
      const waiting = this.#awaiting.get(reply.requestId);
      if (waiting === undefined) continue;
      this.#awaiting.delete(reply.requestId);
      this.#lastTerm = Math.max(this.#lastTerm, reply.term);
      waiting.resolvers.forEach((resolve, i) =>
        resolve(reply.isLeader ? { isLeader: true, index: reply.index + i, term: reply.term } : { isLeader: false, index: 0, term: reply.term }),
      );
    }
  }

  /** A control call that fails with 'Stopped' instead of hanging when the worker dies meanwhile. */
  async #call<T>(call: () => Promise<T> | T): Promise<T> {
    return Promise.race([Promise.resolve(call()), this.#exited]);
  }
}
