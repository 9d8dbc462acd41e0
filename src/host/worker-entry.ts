import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { assert } from '../core/assert.ts';
import { TurnBatcher } from '../core/turn-batcher.ts';
import { RaftchartError } from '../protocol/errors.ts';
import { packEntries, fromWire, unpackCommands, wireEncoder } from '../protocol/packing.ts';
import { errorCodeOf } from '../io/file-system-error.ts';
import { FaultFileSystem } from '../io/fault-file-system.ts';
import { RealFileSystem } from '../io/real-file-system.ts';
import { storageActors } from '../io/storage-actors.ts';
import { openWal, type Wal } from '../io/wal.ts';
import { inspectionPoster } from './inspection-events.ts';
import { createKeyValueStore, type StateMachineFactory } from './key-value-store.ts';
import { ServerHost, statusOf, type ProposalOutcome } from './server-host.ts';
import type { StateMachine } from './state-machine-host.ts';
import { watchThreadUsage } from './thread-usage.ts';
import type { ClientReply, ProposeRequest, ReadRequest, ReadyResult, SnapshotOutcome, WorkerControl, WorkerCounters, WorkerSetup } from './worker-protocol.ts';
import { readStatusDetail } from './worker-inspection.ts';
import { PeerLinks } from '../bus/peer-links.ts';

/**
 * One Raft server in its own worker thread: the one server host (server-host.ts) with its
 * durable log over the real write-ahead log in its own folder, real timers, and its peer ports as
 * its transport (src/bus/peer-links.ts: one MessagePort per peer, the fault model applied here in
 * the sender). Data plane: RaftMessages worker to worker, proposals in and their answers out on
 * `clientPort` (applied entries too, only while the main thread listens), each batched per
 * event-loop turn. Control plane: a WorkerControl over Comlink on parentPort. Every inbound
 * message is validated first; a malformed one is dropped and counted (src/protocol/validate.ts).
 */

const setup = workerData as WorkerSetup;
assert(parentPort !== null, 'worker-entry runs only in a worker thread');

let host: ServerHost | null = null;
let running = false;
/** Messages that arrive before the host runs (peers run while this server opens its log) are dropped: Raft retries them. */
const links = new PeerLinks({
  self: setup.id,
  seed: setup.networkSeed,
  control: setup.networkPort,
  counters: setup.networkCounters,
  onReceive: (_from, messages) => {
    if (running) host?.receive(messages, fromWire);
  },
  onRaw: (batch) => {
    if (running) host?.receive(batch, fromWire);
  },
});

let wal: Wal | null = null;
/** Set by the main thread while anyone listens with onApply (WorkerSetup.applyStream). */
const applyStream = new Int32Array(setup.applyStream);
/** This thread's CPU time and GC pauses, for counters(): the benchmark splits the cluster's CPU by thread. */
const threadUsage = watchThreadUsage();
/** With diskFaults: the real file system behind a FaultFileSystem, for failDisk(). */
const faultyDisk = setup.diskFaults ? new FaultFileSystem(new RealFileSystem()) : null;
/** Only when the cluster asked for inspection: the `inspect` observer given to the chart's actor. */
const inspection = setup.inspectPort === null ? null : inspectionPoster(setup.id, setup.inspectPort);

/** Outbound answers, sent as one postMessage per turn. */
const answers = new TurnBatcher<ClientReply>((replies) => {
  if (host?.stopped !== true) setup.clientPort.postMessage(replies);
});

function post(reply: ClientReply): void {
  answers.push(reply);
}

async function loadStateMachine(): Promise<StateMachine> {
  if (setup.stateMachineModule === null) return createKeyValueStore(setup.id);
  const url = setup.stateMachineModule;
  let factory: unknown;
  try {
    factory = ((await import(url)) as { createStateMachine?: unknown }).createStateMachine;
  } catch (error) {
    throw new RaftchartError('InvalidOptions', `stateMachine ${url} could not be loaded: ${String(error)}`);
  }
  if (typeof factory !== 'function') throw new RaftchartError('InvalidOptions', `stateMachine ${url} must export a function createStateMachine(nodeId).`);
  return (factory as StateMachineFactory)(setup.id);
}

/** The codes a start failure may report; anything else (an errno from the disk) is StorageFailed. */
const startFailureCodes: readonly string[] = ['InvalidOptions', 'LogCorrupt', 'LogLocked', 'LogFailed'];

function readyFailure(error: unknown): ReadyResult {
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined && startFailureCodes.includes(code)) return { ok: false, code, message };
  return { ok: false, code: 'StorageFailed', message: code === undefined ? message : `${code}: ${message}` };
}

function onClientRequest(data: unknown): void {
  if (typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'read') return onReadRequest(data as Partial<ReadRequest>);
  const request = data as Partial<ProposeRequest> | null;
  const commands = typeof request === 'object' && request !== null ? unpackCommands(request.commands) : null;
  const requestId = request?.requestId;
  if (commands === null || !Number.isSafeInteger(requestId) || typeof request?.wait !== 'boolean') {
    if (host !== null) host.counters.malformedDropped++;
    // Answer what can be answered, so a caller never waits forever on a dropped proposal.
    if (Number.isSafeInteger(requestId)) post({ type: 'proposed', requestId: requestId as number, isLeader: false, term: 0, index: 0, count: 0 });
    return;
  }
  const id = requestId as number;
  if (host === null) return;
  if (request.wait) {
    host.propose(commands, { onDecided: (outcome) => post(decidedOf(id, outcome)) });
    return;
  }
  host.propose(commands, {
    onAppended: (answer) => post({ type: 'proposed', requestId: id, isLeader: answer.isLeader, term: answer.term, index: answer.index, count: answer.count }),
  });
}

function onReadRequest(request: Partial<ReadRequest>): void {
  const queries = unpackCommands(request.queries);
  const requestId = request.requestId;
  if (!Number.isSafeInteger(requestId)) {
    if (host !== null) host.counters.malformedDropped++;
    return;
  }
  const id = requestId as number;
  if (queries === null) {
    if (host !== null) host.counters.malformedDropped++;
    post({ type: 'read', requestId: id, index: 0, term: 0, results: [], failure: { code: 'Stopped', message: `${setup.id} could not decode the read`, leaderId: null } });
    return;
  }
  host?.read(queries, (outcome) => post({ type: 'read', requestId: id, index: outcome.index, term: outcome.term, results: outcome.results, failure: outcome.failure }));
}

function decidedOf(requestId: number, outcome: ProposalOutcome): ClientReply {
  return { type: 'decided', requestId, index: outcome.index, term: outcome.term, results: outcome.results, failure: outcome.failure };
}

async function start(): Promise<void> {
  const stateMachine = await loadStateMachine();
  const opened = await openWal(faultyDisk ?? new RealFileSystem(), setup.dir, { fsync: setup.fsync, breakLock: setup.breakLock });
  wal = opened.wal;
  const encode = wireEncoder();
  host = new ServerHost({
    input: { id: setup.id, servers: setup.servers, config: setup.config, randomSeed: setup.randomSeed },
    recovered: opened.recovered,
    storage: storageActors(opened.wal),
    transport: { send: (message) => links.send(encode(message)) },
    stateMachine,
    ...(inspection === null ? {} : { inspect: inspection }),
    hooks: {
      onApplied: (entries) => {
        if (Atomics.load(applyStream, 0) === 1) post({ type: 'applied', firstIndex: entries[0].index, entries: packEntries(entries) });
      },
      onRestored: (snapshot) => post({ type: 'restored', index: snapshot.index, term: snapshot.term }),
      // A bug (a failed assert) must crash the worker loudly, never leave a half-alive server.
      onError: (error) =>
        setImmediate(() => {
          throw error;
        }),
    },
  });
}

const starting: Promise<ReadyResult> = start().then(
  (): ReadyResult => ({ ok: true }),
  readyFailure,
);

/** Starts the chart and listens on the data ports: once, after ready. */
function run(): void {
  assert(host !== null && !running, 'run() once, after ready() answered ok');
  running = true;
  host.start();
  setup.clientPort.on('message', onClientRequest);
}

const control: WorkerControl = {
  ready: () => starting,
  run,
  status: (detail) => {
    assert(host !== null, 'status before the server started');
    const status = statusOf(host);
    if (detail === undefined) return status;
    return { ...status, detail: readStatusDetail(host.actor, detail.logTailMax, wal?.confirmations ?? 0) };
  },
  counters: (): WorkerCounters => {
    const usage = threadUsage();
    return {
      ...(host?.counters ?? { messagesReceived: 0, malformedDropped: 0, proposalsReceived: 0, proposeEvents: 0 }),
      inspectionEventsPosted: inspection?.counts.posted ?? 0,
      inspectionEventsDropped: inspection?.counts.dropped ?? 0,
      threadCpuMicros: usage.cpuMicros,
      gcPauseMs: usage.gcPauseMs,
    };
  },
  snapshot: async (): Promise<SnapshotOutcome> => {
    assert(host !== null && running, 'snapshot() before run()');
    const answer = await host.snapshot();
    if (answer.ok) return { ok: true, index: answer.index, term: answer.term };
    return { ok: false, reason: answer.reason === 'unsupported' || answer.reason === 'stopped' ? answer.reason : 'failed' };
  },
  transfer: async (to) => {
    assert(host !== null && running, 'transfer() before run()');
    return host.transfer(to);
  },
  changeConfig: async (change) => {
    assert(host !== null && running, 'changeConfig() before run()');
    const server = host;
    return new Promise((resolve) => server.changeConfig(change, resolve));
  },
  failDisk: (fault) => {
    if (faultyDisk === null) return false;
    faultyDisk.failOn({ operation: fault.operation, code: fault.code });
    return true;
  },
  shutdown: async () => {
    host?.stop();
    links.close();
    setup.clientPort.close();
    setup.inspectPort?.close();
    await wal?.close();
  },
};

Comlink.expose(control, nodeEndpoint(parentPort));
