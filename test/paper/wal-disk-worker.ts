import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerData, type MessagePort } from 'node:worker_threads';
import type { SnapshotWrite } from '../../machines/durable-log.machine.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import type { StorageFailure } from '../../src/protocol/storage.ts';
import type { RecoveredState } from '../../src/protocol/types.ts';
import type { FileSystem } from '../../src/io/file-system.ts';
import { MemoryFileSystem } from '../../src/io/memory-file-system.ts';
import { RealFileSystem } from '../../src/io/real-file-system.ts';
import { storageFailureOf } from '../../src/io/storage-actors.ts';
import { openWal, type Wal } from '../../src/io/wal.ts';

/**
 * The thread behind wal-disk.ts: it owns every server's real write-ahead log (src/io/wal.ts) on a
 * MemoryFileSystem per server (crash model: unsynced bytes are lost) or on the real disk in a temp
 * folder, and carries out one request at a time. The harness's thread blocks on `flag` until the
 * reply is posted, so the paper tests stay synchronous while the WAL runs on an event loop here.
 */

export type WalDiskFileSystemKind = 'memory' | 'real';

/** One server's log: `server` is unique per harness cluster ("<cluster>/<id>"). */
export type WalDiskRequest =
  | { readonly op: 'open'; readonly server: string }
  | { readonly op: 'seed'; readonly server: string; readonly records: readonly LogRecord[]; readonly snapshot?: SnapshotWrite }
  | { readonly op: 'snapshot'; readonly server: string; readonly snapshot: SnapshotWrite }
  | { readonly op: 'write' | 'rewrite'; readonly server: string; readonly records: readonly LogRecord[] }
  | { readonly op: 'sync'; readonly server: string }
  | { readonly op: 'crash'; readonly server: string }
  | { readonly op: 'durable'; readonly server: string }
  | { readonly op: 'dispose'; readonly cluster: string };

export type WalDiskReply =
  | { readonly ok: true; readonly recovered?: RecoveredState }
  | { readonly ok: false; readonly failure: StorageFailure }
  /** A bug (a failed assert, a broken request): the harness rethrows it. */
  | { readonly ok: false; readonly bug: string };

export interface WalDiskWorkerData {
  readonly port: MessagePort;
  /** Int32 [0]: set to 1 and notified once the reply is posted. */
  readonly flag: SharedArrayBuffer;
  readonly fileSystem: WalDiskFileSystemKind;
}

interface ServerLog {
  readonly fs: FileSystem;
  readonly dir: string;
  wal: Wal | null;
}

const { port, flag, fileSystem } = workerData as WalDiskWorkerData;
const signal = new Int32Array(flag);
const servers = new Map<string, ServerLog>();
/** The real disk's temp folder of each cluster. */
const clusterRoots = new Map<string, string>();

port.on('message', (request: WalDiskRequest) => {
  handle(request).then(
    (reply) => answer(reply),
    (error: unknown) => {
      const failure = request.op === 'write' || request.op === 'sync' || request.op === 'rewrite' || request.op === 'snapshot' ? storageFailureOf(error) : null;
      answer(failure === null ? { ok: false, bug: error instanceof Error ? (error.stack ?? error.message) : String(error) } : { ok: false, failure });
    },
  );
});

function answer(reply: WalDiskReply): void {
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

async function handle(request: WalDiskRequest): Promise<WalDiskReply> {
  switch (request.op) {
    case 'open': {
      const log = await serverLog(request.server);
      if (log.wal !== null) throw new Error(`${request.server}: its write-ahead log is already open`);
      const opened = await openWal(log.fs, log.dir);
      log.wal = opened.wal;
      return { ok: true, recovered: opened.recovered };
    }
    case 'seed': {
      const log = await serverLog(request.server);
      if (log.wal !== null) throw new Error(`${request.server}: seeded while running`);
      const { wal } = await openWal(log.fs, log.dir);
      if (request.snapshot === undefined) {
        await wal.write(request.records);
        await wal.sync();
      } else {
        await wal.installSnapshot(request.snapshot.snapshot, request.snapshot.hardState, request.snapshot.entries);
      }
      await wal.close();
      return { ok: true };
    }
    case 'snapshot':
      await openedWal(request.server).installSnapshot(request.snapshot.snapshot, request.snapshot.hardState, request.snapshot.entries);
      return { ok: true };
    case 'write':
      await openedWal(request.server).write(request.records);
      return { ok: true };
    case 'sync':
      await openedWal(request.server).sync();
      return { ok: true };
    case 'rewrite':
      await openedWal(request.server).rewrite(request.records);
      return { ok: true };
    case 'crash':
      await crash(await serverLog(request.server));
      return { ok: true };
    case 'durable':
      return { ok: true, recovered: await durableState(await serverLog(request.server)) };
    case 'dispose':
      await dispose(request.cluster);
      return { ok: true };
  }
}

async function serverLog(server: string): Promise<ServerLog> {
  const known = servers.get(server);
  if (known !== undefined) return known;
  const [cluster, id] = server.split('/');
  const log: ServerLog =
    fileSystem === 'memory'
      ? { fs: new MemoryFileSystem(), dir: `/wal/${id}`, wal: null }
      : { fs: new RealFileSystem(), dir: join(await clusterRoot(cluster), id), wal: null };
  servers.set(server, log);
  return log;
}

async function clusterRoot(cluster: string): Promise<string> {
  const known = clusterRoots.get(cluster);
  if (known !== undefined) return known;
  const root = await mkdtemp(join(tmpdir(), 'raftchart-paper-'));
  clusterRoots.set(cluster, root);
  return root;
}

function openedWal(server: string): Wal {
  const wal = servers.get(server)?.wal;
  if (wal === undefined || wal === null) throw new Error(`${server}: no write-ahead log is open`);
  return wal;
}

/**
 * The server's process dies and the machine loses power: what was not synced is gone. The memory
 * file system models that itself (the lock file goes too); on the real disk, the Wal is closed
 * (its lock released, as the controller would break a dead holder's) and the segment is cut back
 * to its synced length.
 */
async function crash(log: ServerLog): Promise<void> {
  const wal = log.wal;
  log.wal = null;
  if (wal === null) return;
  if (log.fs instanceof MemoryFileSystem) {
    log.fs.crash();
    return;
  }
  const { segment, confirmedBytes } = wal.position;
  await wal.close();
  const file = await log.fs.openAppend(segment, 'never');
  await file.truncate(confirmedBytes);
  await file.datasync();
  await file.close();
}

/**
 * What a restart would recover now, without touching the running log: the segments as they are,
 * the current one cut at its synced length, recovered by openWal in a scratch memory file system.
 */
async function durableState(log: ServerLog): Promise<RecoveredState> {
  const names = await log.fs.readdir(log.dir).catch(() => []);
  const scratch = new MemoryFileSystem();
  await scratch.mkdirp(log.dir);
  for (const name of names.filter((n) => n.endsWith('.wal') || n.endsWith('.snap'))) {
    const path = join(log.dir, name);
    const bytes = await log.fs.readFile(path);
    const position = log.wal?.position;
    await scratch.createExclusive(path, position?.segment === path ? bytes.subarray(0, position.confirmedBytes) : bytes);
  }
  const { wal, recovered } = await openWal(scratch, log.dir);
  await wal.close();
  return recovered;
}

async function dispose(cluster: string): Promise<void> {
  for (const [server, log] of servers) {
    if (!server.startsWith(`${cluster}/`)) continue;
    servers.delete(server);
    await log.wal?.close();
  }
  const root = clusterRoots.get(cluster);
  clusterRoots.delete(cluster);
  if (root !== undefined) await rm(root, { recursive: true, force: true });
}
