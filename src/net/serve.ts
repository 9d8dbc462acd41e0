import { randomInt } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { RaftConfig } from '../core/config.ts';
import { TurnBatcher } from '../core/turn-batcher.ts';
import { createKeyValueStore } from '../host/key-value-store.ts';
import { ServerHost, statusOf, type ProposalOutcome, type ReadOutcome } from '../host/server-host.ts';
import type { StateMachine } from '../host/state-machine-host.ts';
import { RaftchartError } from '../protocol/errors.ts';
import { fromWire, wireEncoder } from '../protocol/packing.ts';
import type { NodeId } from '../protocol/types.ts';
import { commandBytesMax } from '../protocol/validate.ts';
import { RealFileSystem } from '../io/real-file-system.ts';
import { storageActors } from '../io/storage-actors.ts';
import { openWal, type Wal } from '../io/wal.ts';
import { formatAddress, type Address } from './addresses.ts';
import { readStatusDetail } from '../host/worker-inspection.ts';
import { clientRequestsWaitingMax, type ClientReply, type ClientRequest, type FailureReply, type StatusReply } from './client-protocol.ts';
import { packReplies, unpackRequests } from './client-frames.ts';
import { encodeFrame, FrameError, FrameReader } from './frames.ts';
import { TcpTransport, type TcpLimits, type TlsFiles, type TransportLogEvent } from './tcp-transport.ts';

/**
 * One Raft server in this process, its peers over TCP (`raftchart serve`): the one server host
 * (src/host/server-host.ts) with the write-ahead log in its data folder, real timers, the TCP
 * transport (tcp-transport.ts) and the key-value store (or the state machine given), and a client
 * port (client-protocol.ts) for RaftClient and `raftchart kv`. The folder remembers the cluster,
 * the server and its initial voters (serve.json), so a folder is never started as another server.
 */

export interface ServeOptions {
  readonly id: NodeId;
  /** Where peers reach this server (port 0: any free port; `port` says which). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Every server of the cluster, this one included, and where each listens for peers: the initial voters. */
  readonly peers: ReadonlyMap<NodeId, { readonly host: string; readonly port: number }>;
  readonly dataDir: string;
  /** Where clients connect (TCP or a Unix socket path); null: no client port. */
  readonly clientListen: Address | null;
  /** Every server must name the same cluster; default 'raftchart'. */
  readonly clusterId?: string;
  readonly tls?: TlsFiles | null;
  /** Default true: every acknowledged entry is on disk (fdatasync) first. */
  readonly fsync?: boolean;
  readonly config?: Partial<RaftConfig>;
  readonly limits?: Partial<TcpLimits>;
  readonly stateMachine?: StateMachine;
  /** Take the folder lock over from a holder that still looks alive (after a controller killed it). */
  readonly breakLock?: boolean;
  /** Accept the client op `links` (drop messages to and from chosen peers): for `raftchart cluster --processes`. Default false. */
  readonly faultInjection?: boolean;
  /** One JSON object per event: connections, refusals, role changes. Default: none. */
  readonly log?: (event: Record<string, unknown>) => void;
}

export interface RunningServer {
  readonly id: NodeId;
  readonly host: ServerHost;
  readonly transport: TcpTransport;
  /** The peer port bound. */
  readonly port: number;
  /** The client address bound (its port chosen when 0 was asked), or null. */
  readonly clientAddress: Address | null;
  /** A clean stop: the chart stopped, every waiting client answered Stopped, sockets closed, the log synced and its lock released. */
  stop(): Promise<void>;
}

/** What serve.json in a data folder holds. */
interface FolderIdentity {
  readonly cluster: string;
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const clusterId = options.clusterId ?? 'raftchart';
  if (!options.peers.has(options.id)) {
    throw new RaftchartError('InvalidOptions', `--peers must list this server (${options.id}) with its own address, beside every other server.`);
  }
  const voters = [...options.peers.keys()];
  await mkdir(options.dataDir, { recursive: true });
  await checkFolderIdentity(options.dataDir, { cluster: clusterId, id: options.id, voters });
  const opened = await openWal(new RealFileSystem(), options.dataDir, { fsync: options.fsync ?? true, breakLock: options.breakLock ?? false });
  const wal: Wal = opened.wal;
  const log = options.log ?? (() => undefined);
  let host: ServerHost | null = null;
  const transport = new TcpTransport({
    self: options.id,
    clusterId,
    listen: options.listen,
    peers: options.peers,
    tls: options.tls ?? null,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    onMessages: (_from, messages) => host?.receive(messages, fromWire),
    log: (event: TransportLogEvent) => log({ ...event }),
  });
  const encode = wireEncoder();
  host = new ServerHost({
    input: { id: options.id, servers: voters, ...(options.config === undefined ? {} : { config: options.config }), randomSeed: randomInt(2 ** 31) },
    recovered: opened.recovered,
    storage: storageActors(wal),
    transport: { send: (message) => transport.send(encode(message)) },
    stateMachine: options.stateMachine ?? createKeyValueStore(options.id),
    hooks: {
      // A bug (a failed assert) must end the process loudly, never leave a half-alive server.
      onError: (error) =>
        setImmediate(() => {
          throw error;
        }),
    },
  });
  const server = host;
  let port: number;
  try {
    port = await transport.start();
  } catch (error) {
    await wal.close();
    throw listenError(error, 'peer', formatAddress(options.listen));
  }
  let role = '';
  server.actor.subscribe((snapshot) => {
    const now = statusOf(server);
    if (now.role === role) return;
    role = now.role;
    log({ event: 'role', role, term: snapshot.context.currentTerm, leaderId: now.leaderId });
  });
  server.start();
  const clients = new ClientPort(server, transport, { cluster: clusterId, faultInjection: options.faultInjection ?? false, confirmations: () => wal.confirmations }, log);
  let clientAddress: Address | null = null;
  if (options.clientListen !== null) {
    try {
      clientAddress = await clients.listen(options.clientListen);
    } catch (error) {
      server.stop();
      await transport.close();
      await wal.close();
      throw listenError(error, 'client', formatAddress(options.clientListen));
    }
  }
  let stopping: Promise<void> | null = null;
  return {
    id: options.id,
    host: server,
    transport,
    port,
    clientAddress,
    stop: () =>
      (stopping ??= (async () => {
        server.stop();
        clients.flush();
        await Promise.all([clients.close(), transport.close()]);
        await wal.close();
      })()),
  };
}

function listenError(error: unknown, what: string, address: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new RaftchartError('InvalidOptions', `cannot listen for ${what}s on ${address} (${String(code)}): pick a free port on an address of this host.`);
  }
  return error;
}

/** The folder's identity: written at its first start, and every later start must match it. */
async function checkFolderIdentity(dir: string, identity: FolderIdentity): Promise<void> {
  const file = join(dir, 'serve.json');
  let text: string | null = null;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
  if (text === null) {
    await writeFile(`${file}.tmp`, `${JSON.stringify(identity)}\n`);
    await rename(`${file}.tmp`, file);
    return;
  }
  let recorded: Partial<FolderIdentity>;
  try {
    recorded = JSON.parse(text) as Partial<FolderIdentity>;
  } catch {
    await rm(file, { force: true });
    return checkFolderIdentity(dir, identity);
  }
  if (recorded.id !== identity.id || recorded.cluster !== identity.cluster) {
    throw new RaftchartError('InvalidOptions', `${dir} holds server ${String(recorded.id)} of cluster ${JSON.stringify(recorded.cluster)}, not ${identity.id} of ${JSON.stringify(identity.cluster)}: give each server its own --data-dir, and the same --id and --cluster it first ran with.`);
  }
  const same = Array.isArray(recorded.voters) && recorded.voters.length === identity.voters.length && identity.voters.every((id) => recorded.voters?.includes(id));
  if (!same) {
    throw new RaftchartError('InvalidOptions', `${dir} began as a cluster of ${String(recorded.voters?.join(', '))}, but --peers names ${identity.voters.join(', ')}: start it with the servers it began with.`);
  }
}

/** The most request bytes one client frame may hold: a turn's requests (at least one largest command and its envelope). */
const clientFrameBytesMax = 4 * commandBytesMax;
/** The most requests one client frame may hold. */
const clientRequestsPerFrameMax = 65_536;

interface Waiter {
  readonly socket: Socket;
  readonly id: number;
}

/**
 * The client port: requests framed in, answers framed out (one write per connection per turn).
 * Proposals of one turn, from every connection, are one proposal batch to the chart; reads too.
 */
class ClientPort {
  readonly #host: ServerHost;
  readonly #transport: TcpTransport;
  readonly #cluster: string;
  readonly #faultInjection: boolean;
  readonly #confirmations: () => number;
  readonly #log: (event: Record<string, unknown>) => void;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #proposals = new TurnBatcher<{ readonly waiter: Waiter; readonly command: Uint8Array }>((batch) => this.#propose(batch));
  readonly #reads = new TurnBatcher<{ readonly waiter: Waiter; readonly query: Uint8Array }>((batch) => this.#read(batch));
  #waiting = 0;

  constructor(
    host: ServerHost,
    transport: TcpTransport,
    options: { readonly cluster: string; readonly faultInjection: boolean; readonly confirmations: () => number },
    log: (event: Record<string, unknown>) => void,
  ) {
    this.#host = host;
    this.#transport = transport;
    this.#cluster = options.cluster;
    this.#faultInjection = options.faultInjection;
    this.#confirmations = options.confirmations;
    this.#log = log;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  listen(address: Address): Promise<Address> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      const done = () => {
        this.#server.off('error', reject);
        const bound = this.#server.address();
        resolve('path' in address || typeof bound !== 'object' || bound === null ? address : { host: address.host, port: bound.port });
      };
      if ('path' in address) {
        void rm(address.path, { force: true }).then(() => this.#server.listen(address.path, done));
      } else this.#server.listen(address.port, address.host, done);
    });
  }

  /** Hands the chart what this turn gathered now (before a stop answers it Stopped). */
  flush(): void {
    this.#proposals.flush();
    this.#reads.flush();
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.end();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.#sockets) socket.destroy();
      }, 200);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      if (this.#sockets.size === 0) clearTimeout(timer);
    });
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    // One frame per turn: the replies as one array (v8 serialization costs per call, not per item).
    const replies = new TurnBatcher<ClientReply>((batch) => {
      if (!socket.destroyed) socket.write(encodeFrame(packReplies(batch)));
    });
    (socket as Socket & { replies?: TurnBatcher<ClientReply> }).replies = replies;
    const reader = new FrameReader(clientFrameBytesMax, (value) => {
      const requests = unpackRequests(value, clientRequestsPerFrameMax);
      if (requests === null) return this.#onRequest(socket, null);
      for (const request of requests) this.#onRequest(socket, request);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        this.#log({ event: 'clientClosed', code: error.code, message: error.message, remote: `${socket.remoteAddress ?? 'local'}` });
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #reply(socket: Socket, reply: ClientReply): void {
    (socket as Socket & { replies?: TurnBatcher<ClientReply> }).replies?.push(reply);
  }

  #onRequest(socket: Socket, value: unknown): void {
    const request = value as Partial<ClientRequest> | null;
    const id = typeof request === 'object' && request !== null && Number.isSafeInteger(request.id) ? (request.id as number) : null;
    if (id === null) {
      this.#log({ event: 'clientClosed', code: 'MalformedFrame', message: 'a request without a numeric id', remote: `${socket.remoteAddress ?? 'local'}` });
      socket.destroy();
      return;
    }
    const fail = (code: FailureReply['code'], message: string) => this.#reply(socket, { id, ok: false, code, message, leaderId: null });
    switch (request?.op) {
      case 'hello':
        return this.#reply(socket, { id, ok: true, serverId: this.#host.id, cluster: this.#cluster, status: statusOf(this.#host) });
      case 'status':
        return this.#reply(socket, this.#status(id, null));
      case 'inspect': {
        const logTailMax = (request as { logTailMax?: unknown }).logTailMax;
        if (typeof logTailMax !== 'number' || !Number.isInteger(logTailMax) || logTailMax < 0) return fail('InvalidOptions', 'inspect takes logTailMax, a whole number >= 0');
        return this.#reply(socket, this.#status(id, logTailMax));
      }
      case 'links': {
        const cut = (request as { cut?: unknown }).cut;
        if (!this.#faultInjection) return fail('InvalidOptions', `${this.#host.id} was not started with --fault-injection: it takes no fault commands`);
        if (!Array.isArray(cut) || !cut.every((peer) => typeof peer === 'string')) return fail('InvalidOptions', 'links takes cut, a list of server ids');
        this.#transport.cut(cut as string[]);
        return this.#reply(socket, this.#status(id, null));
      }
      case 'propose':
      case 'read': {
        const bytes = request.op === 'propose' ? (request as { command?: unknown }).command : (request as { query?: unknown }).query;
        if (!(bytes instanceof Uint8Array) || bytes.byteLength > commandBytesMax) return fail('InvalidCommand', `a ${request.op} carries a Uint8Array of at most ${commandBytesMax} bytes`);
        if (this.#host.stopped) return fail('Stopped', `${this.#host.id} is stopping: try another server`);
        if (this.#waiting >= clientRequestsWaitingMax) return fail('Overloaded', `${this.#host.id} holds ${clientRequestsWaitingMax} requests unanswered: retry after a moment`);
        this.#waiting++;
        if (request.op === 'propose') this.#proposals.push({ waiter: { socket, id }, command: bytes });
        else this.#reads.push({ waiter: { socket, id }, query: bytes });
        return;
      }
      default:
        return fail('InvalidCommand', `unknown op ${JSON.stringify(request?.op)}: use hello, propose, read, status, inspect or links`);
    }
  }

  #status(id: number, logTailMax: number | null): StatusReply {
    const counters = this.#transport.counters;
    const status = logTailMax === null ? statusOf(this.#host) : { ...statusOf(this.#host), detail: readStatusDetail(this.#host.actor, logTailMax, this.#confirmations()) };
    const connectedPeers = [...status.voters, ...status.learners].filter((peer) => peer !== this.#host.id && this.#transport.connected(peer));
    return {
      id,
      ok: true,
      serverId: this.#host.id,
      status,
      transport: {
        connectedPeers,
        cutPeers: this.#transport.cutPeers,
        messagesSent: counters.messagesSent,
        messagesReceived: counters.messagesReceived,
        messagesDropped: counters.messagesDropped,
        bytesSent: counters.bytesSent,
        connectionsRefused: counters.connectionsRefused,
      },
    };
  }

  #propose(batch: readonly { readonly waiter: Waiter; readonly command: Uint8Array }[]): void {
    this.#host.propose(
      batch.map((item) => item.command),
      { onDecided: (outcome: ProposalOutcome) => this.#answer(batch.map((item) => item.waiter), outcome, 1) },
    );
  }

  #read(batch: readonly { readonly waiter: Waiter; readonly query: Uint8Array }[]): void {
    this.#host.read(
      batch.map((item) => item.query),
      (outcome: ReadOutcome) => this.#answer(batch.map((item) => item.waiter), { index: outcome.index, term: outcome.term, results: outcome.results, failure: outcome.failure }, 0),
    );
  }

  /**
   * Waiter i gets result i when it was decided, else the failure (results cover a prefix of the
   * batch); its index is outcome.index + i × step (a proposal's own entry; a read's one read index).
   */
  #answer(waiters: readonly Waiter[], outcome: Pick<ProposalOutcome, 'index' | 'term' | 'results' | 'failure'>, step: 0 | 1): void {
    this.#waiting -= waiters.length;
    for (let i = 0; i < waiters.length; i++) {
      const { socket, id } = waiters[i];
      if (i < outcome.results.length) {
        this.#reply(socket, { id, ok: true, index: outcome.index + i * step, term: outcome.term, result: outcome.results[i] });
        continue;
      }
      const failure = outcome.failure ?? { code: 'Stopped' as const, message: 'no outcome', leaderId: null };
      this.#reply(socket, { id, ok: false, code: failure.code, message: failure.message, leaderId: failure.leaderId });
    }
  }
}
