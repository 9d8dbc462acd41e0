import { parentPort, workerData } from 'node:worker_threads';
import { createActor, type Actor } from 'xstate';
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { raftServerMachine, roleOf } from '../../machines/raft-server.machine.ts';
import { assert } from '../core/assert.ts';
import { asBatch, isRaftMessageFor } from '../protocol/validate.ts';
import { RaftchartError } from '../protocol/errors.ts';
import type { Entry } from '../protocol/types.ts';
import { canSnapshot, serveStateMachine, type StateMachine } from '../host/state-machine-host.ts';
import { errorCodeOf } from './file-system-error.ts';
import { inspectionPoster } from './inspection-events.ts';
import { FaultFileSystem } from './fault-file-system.ts';
import { RealFileSystem } from './real-file-system.ts';
import { provideDurableLog } from './storage-actors.ts';
import { openWal, type Wal } from './wal.ts';
import { ProposedSpans } from './proposed-spans.ts';
import { watchThreadUsage } from './thread-usage.ts';
import type { ClientReply, ProposeRequest, ReadyResult, SnapshotOutcome, WorkerControl, WorkerCounters, WorkerSetup, WorkerStatus } from './worker-protocol.ts';
import { packEntries } from '../protocol/packed-entries.ts';
import { fromWire, unpackCommands, wireEncoder, type WireMessage } from './worker-wire.ts';
import { readStatusDetail } from './worker-inspection.ts';
import { createKeyValueStore, type StateMachineFactory } from './worker-state-machine.ts';

/**
 * One Raft server in its own worker thread: the raft-server chart, its durable log over the real
 * write-ahead log in its own folder, and the replicated state machine. Data plane: RaftMessages
 * on `busPort`, proposals and applied entries on `clientPort`, each side batched per event-loop
 * turn. Control plane: a WorkerControl over Comlink on parentPort. Every inbound message is
 * validated first; a malformed one is dropped and counted (src/protocol/validate.ts).
 */

type ServerActor = Actor<typeof raftServerMachine>;

const setup = workerData as WorkerSetup;
assert(parentPort !== null, 'worker-entry runs only in a worker thread');

let actor: ServerActor | null = null;
let wal: Wal | null = null;
/** Whether the state machine can snapshot itself: without it this server never compacts its log. */
let snapshots = false;
/** cluster.snapshot() calls waiting for the chart's answer, by request id. */
const snapshotCalls = new Map<number, (outcome: SnapshotOutcome) => void>();
let snapshotCallNext = 1;
let stopped = false;
let running = false;
const counters = { messagesReceived: 0, malformedDropped: 0, proposalsReceived: 0, proposeEvents: 0 };
/** This thread's CPU time and GC pauses, for counters(): the benchmark splits the cluster's CPU by thread. */
const threadUsage = watchThreadUsage();
/** Only when the cluster asked for inspection: the `inspect` observer given to the chart's actor. */
/** With diskFaults: the real file system behind a FaultFileSystem, for failDisk(). */
const faultyDisk = setup.diskFaults ? new FaultFileSystem(new RealFileSystem()) : null;
const inspection = setup.inspectPort === null ? null : inspectionPoster(setup.id, setup.inspectPort);

/** Outbound data, sent as one postMessage per port per turn. */
const netOut: WireMessage[] = [];
const clientOut: ClientReply[] = [];
let flushScheduled = false;

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function flush(): void {
  flushScheduled = false;
  if (stopped) return;
  if (netOut.length > 0) setup.busPort.postMessage(netOut.splice(0));
  if (clientOut.length > 0) setup.clientPort.postMessage(clientOut.splice(0));
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

/** What this incarnation accepted as proposals: only those entries' results are posted. */
const proposed = new ProposedSpans();

/** Posts an applied run, with the results only of the entries this incarnation accepted as proposals. */
function postApplied(entries: readonly Entry[], results: readonly unknown[]): void {
  const firstIndex = entries[0].index;
  const span = proposed.take(firstIndex, firstIndex + entries.length - 1);
  const proposedResults = span === null ? [] : results.slice(span.from - firstIndex, span.to - firstIndex + 1);
  clientOut.push({ type: 'applied', firstIndex, entries: packEntries(entries), resultsFirstIndex: span?.from ?? firstIndex, results: proposedResults });
  scheduleFlush();
}

function onBusBatch(data: unknown): void {
  const batch = asBatch(data);
  if (batch === null) {
    counters.malformedDropped++;
    return;
  }
  for (const wire of batch) {
    counters.messagesReceived++;
    const message = fromWire(wire);
    if (!isRaftMessageFor(message, setup.id)) {
      counters.malformedDropped++;
      continue;
    }
    actor?.send(message);
  }
}

function onClientRequest(data: unknown): void {
  const request = data as Partial<ProposeRequest> | null;
  const commands = typeof request === 'object' && request !== null ? unpackCommands(request.commands) : null;
  if (commands === null || !Number.isSafeInteger(request?.requestId)) {
    counters.malformedDropped++;
    // Answer what can be answered, so a caller never waits forever on a dropped proposal.
    if (Number.isSafeInteger(request?.requestId)) {
      clientOut.push({ type: 'proposed', requestId: request?.requestId as number, isLeader: false, term: 0, index: 0, count: 0 });
      scheduleFlush();
    }
    return;
  }
  counters.proposalsReceived += commands.length;
  counters.proposeEvents++;
  actor?.send({ type: 'client.propose', requestId: request?.requestId as number, commands });
}

async function start(): Promise<void> {
  const stateMachine = await loadStateMachine();
  const opened = await openWal(faultyDisk ?? new RealFileSystem(), setup.dir, { fsync: setup.fsync, breakLock: setup.breakLock });
  wal = opened.wal;
  const machine = provideDurableLog(opened.wal);
  snapshots = canSnapshot(stateMachine);
  const server = createActor(machine, {
    input: {
      id: setup.id,
      servers: setup.servers,
      config: setup.config,
      randomSeed: setup.randomSeed,
      recovered: opened.recovered,
      stateMachineSnapshots: snapshots,
    },
    ...(inspection === null ? {} : { inspect: inspection }),
  });
  const encode = wireEncoder();
  server.on('net.send', (event) => {
    netOut.push(encode(event.message));
    scheduleFlush();
  });
  serveStateMachine(server, stateMachine, {
    onApplied: postApplied,
    onRestored: (snapshot) => {
      // Proposals up to the snapshot's index can no longer be answered from this server's applies.
      proposed.take(0, snapshot.index);
      clientOut.push({ type: 'restored', index: snapshot.index, term: snapshot.term });
      scheduleFlush();
    },
  });
  server.on('client.snapshotted', (answer) => {
    const call = snapshotCalls.get(answer.requestId);
    snapshotCalls.delete(answer.requestId);
    call?.(answer.ok ? { ok: true, index: answer.index, term: answer.term } : { ok: false, reason: answer.reason ?? 'failed' });
  });
  server.on('client.proposed', (event) => {
    if (event.isLeader) proposed.add(event.index, event.count);
    clientOut.push({ type: 'proposed', requestId: event.requestId, isLeader: event.isLeader, term: event.term, index: event.index, count: event.count });
    scheduleFlush();
  });
  // A bug (a failed assert) must crash the worker loudly, never leave a half-alive server.
  server.subscribe({
    error: (error) => {
      setImmediate(() => {
        throw error;
      });
    },
  });
  actor = server;
}

function readStatus(server: ServerActor): WorkerStatus {
  const snapshot = server.getSnapshot();
  const context = snapshot.context;
  const top = roleOf(snapshot);
  return {
    role: top === 'failed' ? 'follower' : top,
    failed: top === 'failed',
    term: context.currentTerm,
    votedFor: context.votedFor,
    leaderId: context.leaderId,
    commitIndex: context.commitIndex,
    lastApplied: context.lastApplied,
    lastLogIndex: context.log.lastIndex,
    lastLogTerm: context.log.lastTerm,
    snapshotIndex: context.snapshot?.index ?? 0,
    firstLogIndex: context.log.firstIndex,
    snapshots: !snapshots ? 'unsupported' : context.config.snapshotEvery === 0 ? 'manual' : 'on',
  };
}

const starting: Promise<ReadyResult> = start().then(
  (): ReadyResult => ({ ok: true }),
  readyFailure,
);

/** Starts the chart and listens on the data ports: once, after ready. */
function run(): void {
  assert(actor !== null && !running, 'run() once, after ready() answered ok');
  running = true;
  actor.start();
  setup.busPort.on('message', onBusBatch);
  setup.clientPort.on('message', onClientRequest);
}

const control: WorkerControl = {
  ready: () => starting,
  run,
  status: (detail) => {
    assert(actor !== null, 'status before the server started');
    const status = readStatus(actor);
    if (detail === undefined) return status;
    return { ...status, detail: readStatusDetail(actor, detail.logTailMax, wal?.confirmations ?? 0) };
  },
  counters: (): WorkerCounters => {
    const usage = threadUsage();
    return {
      ...counters,
      inspectionEventsPosted: inspection?.counts.posted ?? 0,
      inspectionEventsDropped: inspection?.counts.dropped ?? 0,
      threadCpuMicros: usage.cpuMicros,
      gcPauseMs: usage.gcPauseMs,
    };
  },
  snapshot: () =>
    new Promise<SnapshotOutcome>((resolve) => {
      assert(actor !== null && running, 'snapshot() before run()');
      const requestId = snapshotCallNext++;
      snapshotCalls.set(requestId, resolve);
      actor.send({ type: 'client.snapshot', requestId });
    }),
  failDisk: (fault) => {
    if (faultyDisk === null) return false;
    faultyDisk.failOn({ operation: fault.operation, code: fault.code });
    return true;
  },
  shutdown: async () => {
    stopped = true;
    actor?.stop();
    for (const call of snapshotCalls.values()) call({ ok: false, reason: 'stopped' });
    snapshotCalls.clear();
    setup.busPort.close();
    setup.clientPort.close();
    setup.inspectPort?.close();
    await wal?.close();
  },
};

Comlink.expose(control, nodeEndpoint(parentPort));
