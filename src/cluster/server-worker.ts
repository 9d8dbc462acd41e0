import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { NetworkHub } from '../bus/network-hub.ts';
import { newNetworkCounters } from '../bus/network-counters.ts';
import { RaftchartError, type ErrorCode } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { packCommands } from '../protocol/packing.ts';
import { TurnBatcher } from '../core/turn-batcher.ts';
import type { ServerInspectionEvent } from '../host/inspection-events.ts';
import type {
  AppliedBatch,
  ClientReply,
  DiskFault,
  ProposeRequest,
  ReadRequest,
  ReadyResult,
  RestoredSnapshot,
  SnapshotOutcome,
  StatusDetailRequest,
  WorkerControl,
  WorkerCounters,
  WorkerSetup,
  WorkerStatus,
} from '../host/worker-protocol.ts';
import type { ConfigChangeOutcome, TransferOutcome } from '../host/server-host.ts';
import type { ConfigChange } from '../core/configuration.ts';

/** Proposals waiting in one turn before they travel as one message; past this the batch is sent at once. */
export const proposalBatchMax = 8192;
/** How long a graceful shutdown may take before the worker is terminated anyway. */
export const shutdownMsMax = 2000;

/** The worker's setup, less the ports and counters this side creates, plus the network hub and the listeners. */
export interface ServerWorkerOptions extends Omit<WorkerSetup, 'networkPort' | 'networkCounters' | 'clientPort' | 'inspectPort'> {
  readonly network: NetworkHub;
  /** The worker's inspection events, an array per turn, while this incarnation lives; omitted: inspection off. */
  readonly onInspection?: (events: readonly ServerInspectionEvent[]) => void;
  /** Applied entries, in order, while this incarnation lives and the applyStream flag is set. */
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

/** What became of one command proposed with submitAndWait: applied on the leader with its result, or a coded rejection. */
export type DecidedOutcome =
  | { readonly ok: true; readonly index: number; readonly term: number; readonly result: unknown }
  | { readonly ok: false; readonly code: 'NotLeader' | 'Stopped'; readonly message: string; readonly leaderId?: NodeId | null };

/** One proposed command and who hears its answer. */
interface Proposal<A> {
  readonly command: Uint8Array;
  readonly answer: (answer: A) => void;
}

/** Where the worker's code is: the tsx bootstrap from the sources, the compiled entry from dist/. */
function workerUrl(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? '../host/worker-bootstrap.mjs' : '../host/worker-entry.js', import.meta.url);
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
  readonly #networkPort: MessagePort;
  readonly #options: ServerWorkerOptions;
  readonly #exited: Promise<never>;
  #nextRequestId = 1;
  /** This turn's proposals: plain (answered once appended) and waiting (answered once applied), each sent as one message per turn. */
  readonly #appends = new TurnBatcher<Proposal<ProposeOutcome>>((batch) => this.#send(false, batch), { itemsMax: proposalBatchMax });
  readonly #waits = new TurnBatcher<Proposal<DecidedOutcome>>((batch) => this.#send(true, batch), { itemsMax: proposalBatchMax });
  /** This turn's reads (read-only queries), sent as one message per turn: one `client.read` in the worker. */
  readonly #reads = new TurnBatcher<Proposal<DecidedOutcome>>((batch) => this.#sendReads(batch), { itemsMax: proposalBatchMax });
  readonly #awaitingAppend = new Map<number, Proposal<ProposeOutcome>[]>();
  readonly #awaitingDecision = new Map<number, Proposal<DecidedOutcome>[]>();
  readonly #awaitingRead = new Map<number, Proposal<DecidedOutcome>[]>();
  #lastTerm = 0;

  private constructor(options: ServerWorkerOptions) {
    this.id = options.id;
    this.#options = options;
    const network = new MessageChannel();
    const networkCounters = newNetworkCounters();
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
      applyStream: options.applyStream,
      networkPort: network.port2,
      networkCounters,
      networkSeed: options.networkSeed,
      clientPort: client.port2,
      inspectPort: inspect?.port2 ?? null,
    };
    const transferList = inspect === null ? [network.port2, client.port2] : [network.port2, client.port2, inspect.port2];
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
    options.network.attach(options.id, network.port1, networkCounters);
    this.#networkPort = network.port1;
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

  /** Queues `command` into this turn's batch; resolves with the chart's answer once appended ({isLeader:false} once dead). */
  propose(command: Uint8Array): Promise<ProposeOutcome> {
    return new Promise((resolve) => {
      if (!this.#alive) return resolve(this.#notLeader());
      this.#appends.push({ command, answer: resolve });
    });
  }

  /**
   * Queues `command` into this turn's batch of commands that wait: `onDecided` is called exactly
   * once, when the leader's worker has applied it (with its result) or knows it will not be
   * (NotLeader, Stopped); at once with Stopped when this incarnation is dead.
   */
  submitAndWait(command: Uint8Array, onDecided: (outcome: DecidedOutcome) => void): void {
    if (!this.#alive) return onDecided(this.#crashed());
    this.#waits.push({ command, answer: onDecided });
  }

  /**
   * Queues the read-only `query` into this turn's batch of reads: `onDone` is called exactly once,
   * with the state machine's answer once this server confirmed it leads (ReadIndex or a lease), or
   * why not (NotLeader, Stopped); at once with Stopped when this incarnation is dead.
   */
  read(query: Uint8Array, onDone: (outcome: DecidedOutcome) => void): void {
    if (!this.#alive) return onDone(this.#crashed('read'));
    this.#reads.push({ command: query, answer: onDone });
  }

  /** Asks the server to change the configuration by one server (WorkerControl.changeConfig). */
  async changeConfig(change: ConfigChange): Promise<ConfigChangeOutcome> {
    return this.#call(() => this.#remote.changeConfig(change));
  }

  /** Asks the server to hand leadership to `to` (WorkerControl.transfer). */
  async transfer(to: NodeId): Promise<TransferOutcome> {
    return this.#call(() => this.#remote.transfer(to));
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

  /** Marks this incarnation dead at once: ports closed, waiting proposals answered "not leader" (plain) or Stopped (waiting). */
  #die(): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#options.network.detach(this.id, this.#networkPort);
    this.#clientPort.close();
    this.#inspectPort?.close();
    const appends = [...this.#awaitingAppend.values(), this.#appends.clear()].flat();
    const waits = [...this.#awaitingDecision.values(), this.#waits.clear()].flat();
    const reads = [...this.#awaitingRead.values(), this.#reads.clear()].flat();
    this.#awaitingAppend.clear();
    this.#awaitingDecision.clear();
    this.#awaitingRead.clear();
    for (const proposal of appends) proposal.answer(this.#notLeader());
    for (const proposal of waits) proposal.answer(this.#crashed());
    for (const read of reads) read.answer(this.#crashed('read'));
  }

  #notLeader(): ProposeOutcome {
    return { isLeader: false, index: 0, term: this.#lastTerm };
  }

  #crashed(what: 'command' | 'read' = 'command'): DecidedOutcome {
    return { ok: false, code: 'Stopped', message: what === 'command' ? `${this.id} crashed before applying the command` : `${this.id} crashed before answering the read` };
  }

  #sendReads(batch: Proposal<DecidedOutcome>[]): void {
    if (!this.#alive) return;
    const requestId = this.#nextRequestId++;
    this.#awaitingRead.set(requestId, batch);
    const request: ReadRequest = { kind: 'read', requestId, queries: packCommands(batch.map((read) => read.command)) };
    this.#clientPort.postMessage(request);
  }

  /** One turn's proposals of one kind as one message: one `client.propose` in the worker. */
  #send(wait: boolean, batch: Proposal<ProposeOutcome>[] | Proposal<DecidedOutcome>[]): void {
    if (!this.#alive) return;
    const requestId = this.#nextRequestId++;
    if (wait) this.#awaitingDecision.set(requestId, batch as Proposal<DecidedOutcome>[]);
    else this.#awaitingAppend.set(requestId, batch as Proposal<ProposeOutcome>[]);
    const request: ProposeRequest = { requestId, commands: packCommands(batch.map((proposal) => proposal.command)), wait };
    this.#clientPort.postMessage(request);
  }

  #onReplies(batch: readonly ClientReply[]): void {
    if (!this.#alive) return;
    for (const reply of batch) {
      switch (reply.type) {
        case 'applied':
          this.#options.onApplied(reply);
          break;
        case 'restored':
          this.#options.onRestored(reply);
          break;
        case 'proposed': {
          const waiting = this.#take(this.#awaitingAppend, reply);
          if (waiting === undefined) break;
          waiting.forEach((proposal, i) =>
            proposal.answer(reply.isLeader ? { isLeader: true, index: reply.index + i, term: reply.term } : { isLeader: false, index: 0, term: reply.term }),
          );
          break;
        }
        case 'read': {
          const waiting = this.#take(this.#awaitingRead, reply);
          if (waiting === undefined) break;
          waiting.forEach((read, i) => {
            if (reply.failure === null) read.answer({ ok: true, index: reply.index, term: reply.term, result: reply.results[i] });
            else read.answer({ ok: false, code: reply.failure.code, message: reply.failure.message, leaderId: reply.failure.leaderId });
          });
          break;
        }
        case 'decided': {
          const waiting = this.#take(this.#awaitingDecision, reply);
          if (waiting === undefined) break;
          waiting.forEach((proposal, i) => {
            if (i < reply.results.length) proposal.answer({ ok: true, index: reply.index + i, term: reply.term, result: reply.results[i] });
            else proposal.answer({ ok: false, code: reply.failure?.code ?? 'NotLeader', message: reply.failure?.message ?? `${this.id} did not apply the command` });
          });
          break;
        }
      }
    }
  }

  /** The batch waiting for `reply`, no longer waiting; the reply's term is noted. */
  #take<T>(awaiting: Map<number, T>, reply: { readonly requestId: number; readonly term: number }): T | undefined {
    const waiting = awaiting.get(reply.requestId);
    if (waiting === undefined) return undefined;
    awaiting.delete(reply.requestId);
    this.#lastTerm = Math.max(this.#lastTerm, reply.term);
    return waiting;
  }

  /** A control call that fails with 'Stopped' instead of hanging when the worker dies meanwhile. */
  async #call<T>(call: () => Promise<T> | T): Promise<T> {
    return Promise.race([Promise.resolve(call()), this.#exited]);
  }
}
