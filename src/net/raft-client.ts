import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterSession, type SessionCluster } from '../cluster/session.ts';
import { encodeKeyValueCommand } from '../host/key-value-store.ts';
import type { WorkerStatus } from '../host/worker-protocol.ts';
import { hasErrorCode, RaftchartError } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { formatAddress, parseAddress, type Address } from './addresses.ts';
import type { ClientReply, ClientRequest, FailureReply, HelloReply, ProposeReply, StatusReply } from './client-protocol.ts';
import { forEachReply, packRequests } from './client-frames.ts';
import { encodeFrame, FrameError, FrameReader } from './frames.ts';

/**
 * A network client of a `raftchart serve` cluster: it knows the servers' client addresses, learns
 * their ids, follows the leader (a NotLeader names it) and runs every write in a session
 * (dissertation §6.3, src/cluster/session.ts), so a write retried after a lost answer or a leader
 * crash is applied exactly once. Reads go to the leader, which confirms it still leads first
 * (ReadIndex or a lease): a read sees every write acknowledged before it began.
 */

export interface RaftClientOptions {
  /** The servers' client addresses (`--client-listen`): host:port, or a Unix socket path. At least one. */
  readonly servers: readonly string[];
  /** How long a call may take, retries included, before it rejects Timeout. Default 10,000 ms. */
  readonly timeoutMs?: number;
}

export interface ServerReport {
  readonly address: string;
  /** null when the server did not answer. */
  readonly serverId: NodeId | null;
  readonly status: WorkerStatus | null;
  readonly transport: StatusReply['transport'] | null;
  readonly error: string | null;
}

/** A hello or status asks this long of one server. */
const probeMs = 1000;
const retryPauseMs = 20;
/** One server's connection holds at most this many requests unanswered. */
const inFlightMax = 100_000;
/** A turn's requests to one server go as one frame, or more once this many (or this many bytes) wait. */
const requestsPerFrameMax = 4096;
const requestBytesPerFrameMax = 2 * 1024 * 1024;

export class RaftClient {
  readonly #connections: ClientConnection[];
  readonly #byId = new Map<NodeId, ClientConnection>();
  readonly #timeoutMs: number;
  #leader: NodeId | null = null;
  #session: Promise<ClusterSession> | null = null;
  #closed = false;

  private constructor(connections: ClientConnection[], timeoutMs: number) {
    this.#connections = connections;
    this.#timeoutMs = timeoutMs;
  }

  /** Parses the addresses and says hello to every server; rejects Unreachable when none answers within timeoutMs. */
  static async connect(options: RaftClientOptions): Promise<RaftClient> {
    if (!Array.isArray(options.servers) || options.servers.length === 0) {
      throw new RaftchartError('InvalidOptions', 'servers must list at least one server client address (host:port, as given to --client-listen).');
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RaftchartError('InvalidOptions', `timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}.`);
    const connections = options.servers.map((text) => new ClientConnection(parseAddress(text, 'a server address', true)));
    const client = new RaftClient(connections, timeoutMs);
    const deadline = performance.now() + timeoutMs;
    while (client.#byId.size === 0) {
      await client.#helloAll();
      if (client.#byId.size > 0) break;
      if (performance.now() > deadline) {
        client.close();
        throw new RaftchartError('Unreachable', `no server answered at ${options.servers.join(', ')} within ${timeoutMs} ms: are they running with --client-listen on those addresses?`);
      }
      await sleep(100);
    }
    return client;
  }

  /** The server ids learned so far. */
  get serverIds(): readonly NodeId[] {
    return [...this.#byId.keys()];
  }

  /** Sets `key` to `value` (JSON) in the default key-value store; resolves with the value it replaced. */
  async set(key: string, value: unknown): Promise<{ readonly previous: unknown; readonly index: number }> {
    checkKey(key);
    const { result, index } = await this.propose(encodeKeyValueCommand({ op: 'set', key, value }));
    return { previous: storeAnswer(result).previous ?? null, index };
  }

  /** Deletes `key`; resolves with the value it held (null: none). */
  async delete(key: string): Promise<{ readonly previous: unknown; readonly index: number }> {
    checkKey(key);
    const { result, index } = await this.propose(encodeKeyValueCommand({ op: 'delete', key }));
    return { previous: storeAnswer(result).previous ?? null, index };
  }

  /** `key`'s value (null: none), read on the leader once it confirmed it leads: linearizable, with no log entry. */
  async get(key: string): Promise<unknown> {
    checkKey(key);
    const { result } = await this.read(encodeKeyValueCommand({ op: 'get', key }));
    return storeAnswer(result).value ?? null;
  }

  /**
   * Proposes `command` in this client's session (opened at the first write) and resolves once the
   * leader applied it, exactly once however often it was retried. Rejects Timeout when no leader
   * confirmed it in time: it may or may not have been applied.
   */
  async propose(command: Uint8Array): Promise<{ readonly index: number; readonly term: number; readonly result: unknown }> {
    this.#checkOpen();
    for (let attempt = 0; ; attempt++) {
      const session = await this.#openSession();
      try {
        return await session.propose(command);
      } catch (error) {
        // A session the servers forgot applied nothing: a new one may retry the command, once.
        const reason = (error as { details?: { reason?: unknown } }).details?.reason;
        if (attempt > 0 || !hasErrorCode(error, 'InvalidCommand') || reason !== 'unknownSession') throw error;
        this.#session = null;
      }
    }
  }

  /** Runs a read-only `query` on the leader's state machine once it confirmed it leads. */
  async read(query: Uint8Array): Promise<{ readonly index: number; readonly result: unknown }> {
    this.#checkOpen();
    const deadline = performance.now() + this.#timeoutMs;
    let last = 'no leader found';
    while (performance.now() < deadline) {
      const leader = this.#leader ?? (await this.#findLeader());
      const connection = leader === null ? undefined : this.#byId.get(leader);
      if (connection === undefined) {
        await sleep(retryPauseMs);
        continue;
      }
      const reply = await connection.request({ op: 'read', query }, Math.max(1, deadline - performance.now()));
      if (reply.ok) return { index: (reply as ProposeReply).index, result: (reply as ProposeReply).result };
      last = reply.message;
      if (reply.code !== 'NotLeader' && reply.code !== 'Unreachable' && reply.code !== 'Stopped' && reply.code !== 'Overloaded' && reply.code !== 'Timeout') {
        throw new RaftchartError(reply.code, reply.message);
      }
      this.#leader = reply.leaderId !== null && reply.leaderId !== leader ? reply.leaderId : null;
      await sleep(retryPauseMs);
    }
    throw new RaftchartError('Timeout', `the read was not confirmed by a leader within ${this.#timeoutMs} ms (last: ${last}).`);
  }

  /** What every server says of itself now (a server that does not answer within a second has serverId null and its error). */
  async status(): Promise<ServerReport[]> {
    return Promise.all(
      this.#connections.map(async (connection): Promise<ServerReport> => {
        const reply = await connection.request({ op: 'status' }, probeMs);
        if (!reply.ok) return { address: formatAddress(connection.address), serverId: null, status: null, transport: null, error: `${reply.code}: ${reply.message}` };
        const status = reply as StatusReply;
        this.#byId.set(status.serverId, connection);
        return { address: formatAddress(connection.address), serverId: status.serverId, status: status.status, transport: status.transport, error: null };
      }),
    );
  }

  /** Closes every connection; calls still waiting reject Unreachable. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#connections) connection.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new RaftchartError('Stopped', 'this RaftClient is closed: connect a new one.');
  }

  #openSession(): Promise<ClusterSession> {
    if (this.#session === null) {
      const opening = ClusterSession.open(this.#sessionCluster, { timeoutMs: this.#timeoutMs });
      this.#session = opening;
      opening.catch(() => {
        if (this.#session === opening) this.#session = null;
      });
    }
    return this.#session;
  }

  readonly #sessionCluster: SessionCluster = {
    get nodeIds() {
      return [];
    },
    proposeEnvelope: async (id, envelope, timeoutMs) => {
      const connection = this.#byId.get(id);
      if (connection === undefined) throw new RaftchartError('NotLeader', `server ${id} is not among the addresses given`, { leaderId: null });
      const reply = await connection.request({ op: 'propose', command: envelope }, timeoutMs);
      if (reply.ok) {
        this.#leader = id;
        const answer = reply as ProposeReply;
        return { index: answer.index, term: answer.term, result: answer.result };
      }
      throw replyError(reply, id, (leader) => (this.#leader = leader));
    },
    findLeader: () => this.#findLeader(),
  };

  /** Asks every server; the leader in the highest term any reports (or one they name), or null. */
  async #findLeader(): Promise<NodeId | null> {
    const hellos = await this.#helloAll();
    const leaders = hellos.filter((hello) => hello.status.role === 'leader').sort((a, b) => b.status.term - a.status.term);
    const named = hellos.map((hello) => hello.status.leaderId).find((id) => id !== null && this.#byId.has(id)) ?? null;
    this.#leader = leaders[0]?.serverId ?? named;
    return this.#leader;
  }

  async #helloAll(): Promise<HelloReply[]> {
    const replies = await Promise.all(this.#connections.map((connection) => connection.request({ op: 'hello' }, probeMs)));
    const hellos: HelloReply[] = [];
    replies.forEach((reply, i) => {
      if (!reply.ok) return;
      const hello = reply as HelloReply;
      this.#byId.set(hello.serverId, this.#connections[i]);
      hellos.push(hello);
    });
    return hellos;
  }
}

/** A failure as the session's retry loop reads it: NotLeader (with the leader named) and Timeout are retried; others are final. */
function replyError(reply: FailureReply, id: NodeId, onLeader: (leader: NodeId | null) => void): RaftchartError {
  switch (reply.code) {
    case 'NotLeader':
      onLeader(reply.leaderId);
      return new RaftchartError('NotLeader', reply.message, { leaderId: reply.leaderId });
    case 'Unreachable':
    case 'Stopped':
      onLeader(null);
      return new RaftchartError('NotLeader', `${id}: ${reply.message}`, { leaderId: null });
    case 'Overloaded':
    case 'Timeout':
      return new RaftchartError('Timeout', `${id}: ${reply.message}`, { leaderId: null });
    default:
      return new RaftchartError(reply.code, reply.message);
  }
}

function checkKey(key: unknown): void {
  if (typeof key !== 'string') throw new RaftchartError('InvalidCommand', `a key is a string, got ${typeof key}.`);
}

function storeAnswer(result: unknown): { previous?: unknown; value?: unknown } {
  const answer = result as { ok?: unknown; error?: unknown } | null;
  if (typeof answer !== 'object' || answer === null || answer.ok !== true) {
    throw new RaftchartError('InvalidCommand', `the key-value store refused the command: ${String(answer?.error ?? JSON.stringify(result))}. Is the cluster running the default state machine?`);
  }
  return answer as { previous?: unknown; value?: unknown };
}

export type RequestBody = ClientRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** One server's client connection: opened on first use and again after it closes; requests pipelined and matched by id. */
export class ClientConnection {
  readonly address: Address;
  #socket: Socket | null = null;
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve: (reply: ClientReply) => void; timer: NodeJS.Timeout }>();
  /** This turn's requests, sent as one frame (an array) at the end of the turn, or once requestsPerFrameMax wait. */
  #outgoing: ClientRequest[] = [];
  #outgoingBytes = 0;
  #flushScheduled = false;
  #closed = false;

  constructor(address: Address) {
    this.address = address;
  }

  /** The server's reply, or a failure reply (Unreachable, Timeout) made here; never rejects. */
  request(body: RequestBody, timeoutMs: number): Promise<ClientReply> {
    const id = this.#nextId++;
    if (this.#closed) return Promise.resolve(failure(id, 'Unreachable', 'the client is closed'));
    if (this.#waiting.size >= inFlightMax) return Promise.resolve(failure(id, 'Overloaded', `${inFlightMax} requests already wait on ${formatAddress(this.address)}`));
    if (this.#socket === null) this.#open();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(failure(id, 'Timeout', `${formatAddress(this.address)} did not answer within ${Math.round(timeoutMs)} ms`));
      }, timeoutMs);
      this.#waiting.set(id, { resolve, timer });
      const request = { ...body, id } as ClientRequest;
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#onTurnEnd);
      }
      this.#outgoing.push(request);
      this.#outgoingBytes += 64 + ('command' in request ? request.command.byteLength : 'query' in request ? request.query.byteLength : 0);
      if (this.#outgoing.length >= requestsPerFrameMax || this.#outgoingBytes >= requestBytesPerFrameMax) this.#flush();
    });
  }

  readonly #onTurnEnd = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  /** Sends what this turn gathered on the socket open now (the close of an earlier one answered what it held). */
  #flush(): void {
    const socket = this.#socket;
    if (this.#outgoing.length === 0 || socket === null) return;
    const batch = this.#outgoing;
    this.#outgoing = [];
    this.#outgoingBytes = 0;
    socket.write(encodeFrame(packRequests(batch)));
  }

  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
  }

  #open(): Socket {
    const socket = connect('path' in this.address ? { path: this.address.path } : { host: this.address.host, port: this.address.port });
    socket.setNoDelay(true);
    this.#socket = socket;
    const onReply = (reply: ClientReply | null) => {
      const id = typeof reply === 'object' && reply !== null ? reply.id : undefined;
      const waiter = id === undefined ? undefined : this.#waiting.get(id);
      if (waiter === undefined || id === undefined) return;
      this.#waiting.delete(id);
      clearTimeout(waiter.timer);
      waiter.resolve(reply as ClientReply);
    };
    const reader = new FrameReader(256 << 20, (value) => {
      forEachReply(value, onReply);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        socket.destroy(error);
      }
    });
    let why = 'the connection closed';
    socket.on('error', (error: Error) => (why = error.message));
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      // Every request gathered or sent is answered Unreachable below: none goes out later.
      this.#outgoing = [];
      this.#outgoingBytes = 0;
      for (const [id, waiter] of this.#waiting) {
        clearTimeout(waiter.timer);
        waiter.resolve(failure(id, 'Unreachable', `${formatAddress(this.address)}: ${why}`));
      }
      this.#waiting.clear();
    });
    return socket;
  }
}

function failure(id: number, code: FailureReply['code'], message: string): FailureReply {
  return { id, ok: false, code, message, leaderId: null };
}
