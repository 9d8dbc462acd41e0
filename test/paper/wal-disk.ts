import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { fromCallback, type AnyEventObject } from 'xstate';
import type { StorageActorInput, StorageActors, StorageAnswer } from '../../src/io/storage-actors.ts';
import type { RecoveredState } from '../../src/protocol/types.ts';
import type { Schedule } from '../../src/sim/virtual-disk.ts';
import { recordsOf, snapshotWriteOf, type PaperDisk, type PaperDisks } from './paper-disk.ts';
import type { WalDiskFileSystemKind, WalDiskReply, WalDiskRequest, WalDiskWorkerData } from './wal-disk-worker.ts';

/** How long one request to the WAL thread may take before the harness gives up loudly. */
export const walRequestMsMax = 30_000;

/**
 * The real write-ahead log behind a synchronous door: the WAL (promises, an event loop) runs in a
 * worker thread (wal-disk-worker.ts), and each request blocks this thread with Atomics.wait until
 * the worker has carried it out, then takes the reply with receiveMessageOnPort. So a harness step
 * returns only after the storage did what the step asked, as with the virtual disk.
 */
export class WalThread {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal: Int32Array;

  constructor(fileSystem: WalDiskFileSystemKind) {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    const workerData: WalDiskWorkerData = { port: port2, flag, fileSystem };
    this.#worker = new Worker(new URL('./wal-disk-worker.mjs', import.meta.url), { workerData, transferList: [port2] });
    // The thread lives as long as the test file; it must not keep the process alive after it.
    this.#worker.unref();
    this.#port = port1;
    this.#signal = new Int32Array(flag);
  }

  /** Carries out `request` in the WAL thread and returns its reply; a bug there is thrown here. */
  call(request: WalDiskRequest): Exclude<WalDiskReply, { bug: string }> {
    Atomics.store(this.#signal, 0, 0);
    this.#port.postMessage(request);
    if (Atomics.wait(this.#signal, 0, 0, walRequestMsMax) === 'timed-out') {
      throw new Error(`the WAL thread did not answer ${request.op} within ${walRequestMsMax} ms`);
    }
    const reply = receiveMessageOnPort(this.#port)?.message as WalDiskReply | undefined;
    if (reply === undefined) throw new Error(`the WAL thread signalled ${request.op} done without a reply`);
    if ('bug' in reply) throw new Error(`the WAL thread failed ${request.op}: ${reply.bug}`);
    return reply;
  }

  /** `request`'s recovered state: a call that must succeed. */
  recovered(request: WalDiskRequest): RecoveredState {
    const reply = this.call(request);
    if (!reply.ok || reply.recovered === undefined) throw new Error(`the WAL thread returned no recovered state for ${request.op}`);
    return reply.recovered;
  }

  /** A call that must succeed. */
  succeed(request: WalDiskRequest): void {
    const reply = this.call(request);
    if (!reply.ok) throw new Error(`${request.op} failed: ${reply.failure.code} ${reply.failure.message}`);
  }
}

const threads = new Map<WalDiskFileSystemKind, WalThread>();
let clustersMade = 0;

/** One thread per file system kind and test file: starting one (tsx included) costs far more than a test. */
function walThread(fileSystem: WalDiskFileSystemKind): WalThread {
  const known = threads.get(fileSystem);
  if (known !== undefined) return known;
  const thread = new WalThread(fileSystem);
  threads.set(fileSystem, thread);
  return thread;
}

/** The WAL disks of one harness cluster: a namespace in the WAL thread, released by dispose(). */
export class WalPaperDisks implements PaperDisks {
  readonly #thread: WalThread;
  readonly #name = String(++clustersMade);
  #disposed = false;

  constructor(fileSystem: WalDiskFileSystemKind) {
    this.#thread = walThread(fileSystem);
  }

  disk(id: string): PaperDisk {
    return new WalDisk(this.#thread, `${this.#name}/${id}`);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#thread.succeed({ op: 'dispose', cluster: this.#name });
  }
}

/**
 * One server's real WAL. Its storage actors carry the call out in the WAL thread at once (a write
 * at the actor's start, a sync or rewrite when `schedule` runs it, so a held sync has not reached
 * the disk) and answer `storage.done` or `storage.failed` as storage-actors.ts does.
 */
class WalDisk implements PaperDisk {
  readonly #thread: WalThread;
  readonly #server: string;

  constructor(thread: WalThread, server: string) {
    this.#thread = thread;
    this.#server = server;
  }

  seed(recovered: RecoveredState): void {
    const snapshot = snapshotWriteOf(recovered);
    this.#thread.succeed({ op: 'seed', server: this.#server, records: recordsOf(recovered), ...(snapshot === null ? {} : { snapshot }) });
  }

  open(): RecoveredState {
    return this.#thread.recovered({ op: 'open', server: this.#server });
  }

  actors(schedule: Schedule): StorageActors {
    const answerOf = (request: WalDiskRequest): StorageAnswer => {
      const reply = this.#thread.call(request);
      return reply.ok ? { type: 'storage.done' } : { type: 'storage.failed', failure: reply.failure };
    };
    const server = this.#server;
    return {
      writeRecords: fromCallback<AnyEventObject, StorageActorInput>(({ sendBack, input }) => {
        const answer = answerOf({ op: 'write', server, records: input.records ?? [] });
        return schedule(0, () => sendBack(answer));
      }),
      syncRecords: fromCallback<AnyEventObject, StorageActorInput>(({ sendBack }) =>
        schedule(0, () => sendBack(answerOf({ op: 'sync', server }))),
      ),
      rewriteRecords: fromCallback<AnyEventObject, StorageActorInput>(({ sendBack, input }) =>
        schedule(0, () => sendBack(answerOf({ op: 'rewrite', server, records: input.records ?? [] }))),
      ),
      writeSnapshot: fromCallback<AnyEventObject, StorageActorInput>(({ sendBack, input }) =>
        schedule(0, () => sendBack(answerOf({ op: 'snapshot', server, snapshot: input.snapshot! }))),
      ),
    };
  }

  crash(): void {
    this.#thread.succeed({ op: 'crash', server: this.#server });
  }

  recover(): RecoveredState {
    return this.#thread.recovered({ op: 'durable', server: this.#server });
  }
}
