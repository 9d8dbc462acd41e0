import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { assert } from '../core/assert.ts';
import type { NodeId } from '../protocol/types.ts';
import { encodeFrame, FrameError, FrameReader } from './frames.ts';

/**
 * The TCP transport between `raftchart serve` processes (ARCHITECTURE.md, "past one process"):
 * one connection per pair of servers, dialled by the server whose id sorts first and accepted by
 * the other, each frame (src/net/frames.ts) one Raft message in the wire form of
 * src/protocol/packing.ts. A connection starts with a handshake that names the cluster and both
 * ends; anything wrong in it, or a frame that is too long, does not deserialize, or speaks for
 * another server, closes that connection with a coded reason in the log, and the server runs on.
 * Raft is built for a lossy network, so the transport never waits: a message to a peer that is
 * not connected, or whose queue is full, is dropped (and counted), and Raft sends again.
 */

export interface TcpLimits {
  /** The longest frame read or written, in bytes: a longer one closes the connection (FrameTooLarge). */
  readonly frameBytesMax: number;
  /** Bytes queued on one peer's socket past which further messages to it are dropped, until it drains. */
  readonly queuedBytesPerPeerMax: number;
  /** A dial not connected (TLS included) within this long is abandoned and retried. */
  readonly connectTimeoutMs: number;
  /** A connection whose handshake is not done within this long is closed (HandshakeTimeout). */
  readonly handshakeTimeoutMs: number;
  /** Redials wait from the first to the second, doubling on each failure. */
  readonly backoffMs: readonly [first: number, max: number];
  /** A connected link that sent nothing for this long sends a ping. */
  readonly pingIntervalMs: number;
  /** A connected link that heard nothing (not even a ping) for this long is closed (Silent) and redialled: a cut link TCP has not noticed. */
  readonly silenceMs: number;
}

export const defaultTcpLimits: TcpLimits = {
  frameBytesMax: 16 << 20,
  queuedBytesPerPeerMax: 64 << 20,
  connectTimeoutMs: 2000,
  handshakeTimeoutMs: 2000,
  backoffMs: [50, 1000],
  pingIntervalMs: 500,
  silenceMs: 3000,
};

/** TLS for every connection: this server's certificate and key, and the CA its peers' certificates must chain to. */
export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** Why a connection was closed: each one is logged with its peer and a message. */
export type CloseCode =
  | 'FrameTooLarge'
  | 'MalformedFrame'
  | 'BadHandshake'
  | 'WrongCluster'
  | 'WrongServer'
  | 'UnknownPeer'
  | 'WrongSender'
  | 'CertificateMismatch'
  | 'HandshakeTimeout'
  | 'Refused'
  | 'Replaced'
  | 'Silent'
  | 'SocketError'
  | 'PeerClosed';

export type TransportLogEvent =
  | { readonly event: 'listening'; readonly address: string }
  | { readonly event: 'connected'; readonly peer: NodeId; readonly direction: 'out' | 'in' }
  | { readonly event: 'closed'; readonly peer: NodeId | null; readonly code: CloseCode; readonly message: string; readonly remote: string };

export interface TransportCounters {
  messagesSent: number;
  messagesReceived: number;
  /** Messages dropped: the peer not connected, its queue full, or the message over frameBytesMax. */
  messagesDropped: number;
  bytesSent: number;
  bytesReceived: number;
  connectionsOpened: number;
  /** Connections closed for a fault of the other end (bad frames, handshakes, certificates). */
  connectionsRefused: number;
}

export interface TcpTransportOptions {
  readonly self: NodeId;
  /** Both ends of every connection must name the same cluster. */
  readonly clusterId: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** Every other server of the cluster and where it listens. */
  readonly peers: ReadonlyMap<NodeId, { readonly host: string; readonly port: number }>;
  readonly tls?: TlsFiles | null;
  readonly limits?: Partial<TcpLimits>;
  /** Messages from `from`, each an object in its name (still to be validated as Raft messages). */
  readonly onMessages: (from: NodeId, messages: unknown[]) => void;
  readonly log?: (event: TransportLogEvent) => void;
}

const handshakeMagic = 'raftchart';
const protocolVersion = 1;

interface Hello {
  readonly t: 'hello';
  readonly magic: string;
  readonly version: number;
  readonly cluster: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** One peer: its address, whether this end dials it, and the connection once its handshake is done. */
interface Link {
  readonly id: NodeId;
  readonly address: { readonly host: string; readonly port: number };
  readonly dials: boolean;
  socket: Socket | null;
  /** The socket is past its handshake: messages go. */
  ready: boolean;
  backoffMs: number;
  redial: NodeJS.Timeout | null;
  corked: boolean;
  lastHeardAt: number;
  lastSentAt: number;
}

export class TcpTransport {
  readonly counters: TransportCounters = { messagesSent: 0, messagesReceived: 0, messagesDropped: 0, bytesSent: 0, bytesReceived: 0, connectionsOpened: 0, connectionsRefused: 0 };
  readonly limits: TcpLimits;
  readonly #options: TcpTransportOptions;
  readonly #links = new Map<NodeId, Link>();
  readonly #server: Server;
  /** Accepted sockets still in their handshake. */
  readonly #pending = new Set<Socket>();
  readonly #ticker: NodeJS.Timeout;
  /** Peers cut off by fault injection (cut()): nothing goes to them or is taken from them. */
  #cut: ReadonlySet<NodeId> = new Set();
  #closed = false;

  constructor(options: TcpTransportOptions) {
    this.#options = options;
    this.limits = { ...defaultTcpLimits, ...options.limits };
    for (const [id, address] of options.peers) {
      if (id === options.self) continue;
      this.#links.set(id, { id, address, dials: options.self < id, socket: null, ready: false, backoffMs: this.limits.backoffMs[0], redial: null, corked: false, lastHeardAt: 0, lastSentAt: 0 });
    }
    const tls = options.tls ?? null;
    this.#server =
      tls === null
        ? createServer((socket) => this.#accept(socket))
        : createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, (socket) => this.#accept(socket));
    if (tls !== null) {
      this.#server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
        this.counters.connectionsRefused++;
        this.#log({ event: 'closed', peer: null, code: 'CertificateMismatch', message: `TLS refused: ${error.message}`, remote: remoteOf(socket) });
      });
    }
    this.#ticker = setInterval(() => this.#tick(), Math.max(10, Math.min(this.limits.pingIntervalMs, this.limits.silenceMs) / 2));
    this.#ticker.unref();
  }

  /** Listens, then dials the peers this end dials; resolves with the port bound (the one asked for, or the one port 0 chose). */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.listen.port, this.#options.listen.host, () => {
        this.#server.off('error', reject);
        const bound = this.#server.address();
        const port = typeof bound === 'object' && bound !== null ? bound.port : this.#options.listen.port;
        this.#log({ event: 'listening', address: `${this.#options.listen.host}:${port}` });
        for (const link of this.#links.values()) if (link.dials) this.#dial(link);
        resolve(port);
      });
    });
  }

  /** Whether `peer`'s connection is up (its handshake done). */
  connected(peer: NodeId): boolean {
    return this.#links.get(peer)?.ready === true;
  }

  /**
   * Fault injection (`serve --fault-injection`, for `raftchart cluster --processes`): from now on
   * messages to and from `peers` are dropped here, connections kept (pings flow, so they stay up).
   * An empty list heals.
   */
  cut(peers: readonly NodeId[]): void {
    this.#cut = new Set(peers);
  }

  /** The peers cut off now (cut()). */
  get cutPeers(): readonly NodeId[] {
    return [...this.#cut];
  }

  /** Sends one message (in wire form) to the server its `to` names; drops it when that link is down or full. */
  send(message: { readonly to: NodeId }): void {
    const link = this.#links.get(message.to);
    if (this.#closed || link === undefined || !link.ready || link.socket === null || this.#cut.has(link.id)) {
      this.counters.messagesDropped++;
      return;
    }
    const socket = link.socket;
    if (socket.writableLength > this.limits.queuedBytesPerPeerMax) {
      this.counters.messagesDropped++;
      return;
    }
    const frame = encodeFrame(message);
    if (frame.byteLength - 4 > this.limits.frameBytesMax) {
      this.counters.messagesDropped++;
      return;
    }
    this.#write(link, frame);
    this.counters.messagesSent++;
  }

  /** Closes the listener, every connection and timer; nothing more is sent or received. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ticker);
    for (const link of this.#links.values()) {
      if (link.redial !== null) clearTimeout(link.redial);
      link.socket?.destroy();
      link.socket = null;
      link.ready = false;
    }
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #write(link: Link, frame: Buffer): void {
    const socket = link.socket;
    assert(socket !== null, 'a write on a link with no socket');
    // One turn's frames to a peer go out in one write.
    if (!link.corked) {
      link.corked = true;
      socket.cork();
      setImmediate(() => {
        link.corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
    link.lastSentAt = performance.now();
    this.counters.bytesSent += frame.byteLength;
  }

  #dial(link: Link): void {
    if (this.#closed) return;
    link.redial = null;
    const tls = this.#options.tls ?? null;
    const { host, port } = link.address;
    const socket: Socket =
      tls === null
        ? netConnect({ host, port })
        : tlsConnect({ host, port, cert: tls.cert, key: tls.key, ca: tls.ca, rejectUnauthorized: true, checkServerIdentity: (_host, cert) => certificateProblem(cert, link.id) });
    socket.setNoDelay(true);
    const connectTimer = setTimeout(() => socket.destroy(new Error(`no connection within ${this.limits.connectTimeoutMs} ms`)), this.limits.connectTimeoutMs);
    let handshakeTimer: NodeJS.Timeout | null = null;
    const onOpen = () => {
      clearTimeout(connectTimer);
      const hello: Hello = { t: 'hello', magic: handshakeMagic, version: protocolVersion, cluster: this.#options.clusterId, from: this.#options.self, to: link.id };
      socket.write(encodeFrame(hello));
      handshakeTimer = setTimeout(() => this.#refuse(socket, link.id, 'HandshakeTimeout', `${link.id} did not answer the handshake within ${this.limits.handshakeTimeoutMs} ms`), this.limits.handshakeTimeoutMs);
    };
    socket.once(tls === null ? 'connect' : 'secureConnect', onOpen);
    let welcomed = false;
    const reader = new FrameReader(this.limits.frameBytesMax, (value) => {
      if (welcomed) return this.#heard(link, socket, value);
      welcomed = true;
      if (handshakeTimer !== null) clearTimeout(handshakeTimer);
      const problem = welcomeProblem(value, this.#options.clusterId, link.id);
      if (problem !== null) return this.#refuse(socket, link.id, problem.code, problem.message);
      this.#up(link, socket, 'out');
    });
    this.#readFrames(socket, reader, () => link.id);
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (handshakeTimer !== null) clearTimeout(handshakeTimer);
      const wasUp = link.socket === socket;
      if (wasUp) this.#down(link);
      if (this.#closed || link.socket !== null) return;
      // A link that came up starts its backoff over; a dial that failed waits longer next time.
      if (wasUp) link.backoffMs = this.limits.backoffMs[0];
      link.redial = setTimeout(() => this.#dial(link), link.backoffMs);
      link.backoffMs = Math.min(this.limits.backoffMs[1], link.backoffMs * 2);
    });
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#pending.add(socket);
    const handshakeTimer = setTimeout(() => this.#refuse(socket, null, 'HandshakeTimeout', `no handshake within ${this.limits.handshakeTimeoutMs} ms`), this.limits.handshakeTimeoutMs);
    let link: Link | null = null;
    const reader = new FrameReader(this.limits.frameBytesMax, (value) => {
      if (link !== null) return this.#heard(link, socket, value);
      clearTimeout(handshakeTimer);
      this.#pending.delete(socket);
      const problem = this.#helloProblem(value, socket);
      if (problem !== null) return this.#refuse(socket, (value as { from?: unknown } | null)?.from as NodeId | null, problem.code, problem.message);
      const peer = this.#links.get((value as Hello).from);
      assert(peer !== undefined, 'a hello passed from an unknown peer');
      socket.write(encodeFrame({ t: 'welcome', magic: handshakeMagic, version: protocolVersion, cluster: this.#options.clusterId, from: this.#options.self }));
      // A peer that dials again restarted (or lost its connection first): the new connection wins.
      if (peer.socket !== null) {
        const old = peer.socket;
        this.#down(peer);
        this.#closeSocket(old, peer.id, 'Replaced', `${peer.id} connected again`);
      }
      link = peer;
      this.#up(peer, socket, 'in');
    });
    this.#readFrames(socket, reader, () => link?.id ?? null);
    socket.on('close', () => {
      clearTimeout(handshakeTimer);
      this.#pending.delete(socket);
      if (link !== null && link.socket === socket) this.#down(link);
    });
  }

  #helloProblem(value: unknown, socket: Socket): { code: CloseCode; message: string } | null {
    const hello = value as Partial<Hello> | null;
    if (typeof hello !== 'object' || hello === null || hello.t !== 'hello' || hello.magic !== handshakeMagic || typeof hello.from !== 'string' || typeof hello.to !== 'string') {
      return { code: 'BadHandshake', message: 'the first frame is not a raftchart handshake' };
    }
    if (hello.version !== protocolVersion) return { code: 'BadHandshake', message: `protocol version ${String(hello.version)}; this server speaks ${protocolVersion}` };
    if (hello.cluster !== this.#options.clusterId) return { code: 'WrongCluster', message: `${hello.from} is in cluster ${JSON.stringify(hello.cluster)}, this server in ${JSON.stringify(this.#options.clusterId)}` };
    if (hello.to !== this.#options.self) return { code: 'WrongServer', message: `${hello.from} dialled ${hello.to}, but this is ${this.#options.self}: check --peers` };
    const peer = this.#links.get(hello.from);
    if (peer === undefined || peer.dials) return { code: 'UnknownPeer', message: `${hello.from} is not a peer that dials ${this.#options.self} (--peers: ${[...this.#links.keys()].join(', ')})` };
    if (this.#options.tls != null) {
      const problem = certificateProblem((socket as TLSSocket).getPeerCertificate(), hello.from);
      if (problem !== undefined) return { code: 'CertificateMismatch', message: problem.message };
    }
    return null;
  }

  #readFrames(socket: Socket, reader: FrameReader, peerOf: () => NodeId | null): void {
    socket.on('data', (chunk: Buffer) => {
      this.counters.bytesReceived += chunk.byteLength;
      // Bytes arriving are the peer alive, whole frame or not: a large AppendEntries or snapshot
      // chunk on a slow link takes longer than silenceMs to arrive whole.
      const peer = peerOf();
      const link = peer === null ? undefined : this.#links.get(peer);
      if (link !== undefined && link.socket === socket) link.lastHeardAt = performance.now();
      try {
        reader.push(chunk);
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        this.#refuse(socket, peerOf(), error.code, error.message);
      }
    });
    socket.on('error', () => undefined);
  }

  /** A frame on a link past its handshake: a ping, or a message that must be in the peer's name. */
  #heard(link: Link, socket: Socket, value: unknown): void {
    if (link.socket !== socket) return;
    link.lastHeardAt = performance.now();
    const kind = typeof value === 'object' && value !== null ? (value as { t?: unknown }).t : undefined;
    if (kind === 'ping') return;
    // The other end gave up on this connection (its handshake timed out while ours went through).
    if (kind === 'refused') {
      const { code, message } = value as { code?: unknown; message?: unknown };
      this.#down(link);
      return this.#closeSocket(socket, link.id, 'Refused', `${link.id} closed the connection: ${String(code)}: ${String(message)}`);
    }
    if (typeof value !== 'object' || value === null || (value as { from?: unknown }).from !== link.id) {
      return this.#refuse(socket, link.id, 'WrongSender', `a frame on ${link.id}'s connection does not come from ${link.id}`);
    }
    this.counters.messagesReceived++;
    if (this.#cut.has(link.id)) {
      this.counters.messagesDropped++;
      return;
    }
    this.#options.onMessages(link.id, [value]);
  }

  #up(link: Link, socket: Socket, direction: 'out' | 'in'): void {
    link.socket = socket;
    link.ready = true;
    link.lastHeardAt = performance.now();
    link.lastSentAt = 0;
    this.counters.connectionsOpened++;
    this.#log({ event: 'connected', peer: link.id, direction });
  }

  #down(link: Link): void {
    link.socket = null;
    link.ready = false;
    link.corked = false;
  }

  #refuse(socket: Socket, peer: NodeId | null, code: CloseCode, message: string): void {
    this.counters.connectionsRefused++;
    if (!socket.destroyed && socket.writable) socket.write(encodeFrame({ t: 'refused', code, message }));
    this.#closeSocket(socket, peer, code, message);
  }

  #closeSocket(socket: Socket, peer: NodeId | null, code: CloseCode, message: string): void {
    this.#log({ event: 'closed', peer, code, message, remote: remoteOf(socket) });
    socket.end();
    // end() lets the refusal out; a peer that never reads is cut after a moment.
    setTimeout(() => socket.destroy(), 200).unref();
    socket.removeAllListeners('data');
  }

  /** Pings links that were quiet, closes links that went silent (a cut TCP has not noticed). */
  #tick(): void {
    const now = performance.now();
    for (const link of this.#links.values()) {
      const socket = link.socket;
      if (!link.ready || socket === null) continue;
      if (now - link.lastHeardAt > this.limits.silenceMs) {
        this.#down(link);
        this.#closeSocket(socket, link.id, 'Silent', `nothing heard from ${link.id} for ${this.limits.silenceMs} ms`);
        socket.destroy();
        continue;
      }
      if (now - link.lastSentAt > this.limits.pingIntervalMs && socket.writableLength === 0) this.#write(link, pingFrame);
    }
  }

  #log(event: TransportLogEvent): void {
    this.#options.log?.(event);
  }
}

const pingFrame = encodeFrame({ t: 'ping' });

function welcomeProblem(value: unknown, clusterId: string, peer: NodeId): { code: CloseCode; message: string } | null {
  const welcome = value as { t?: unknown; magic?: unknown; version?: unknown; cluster?: unknown; from?: unknown; code?: unknown; message?: unknown } | null;
  if (typeof welcome !== 'object' || welcome === null) return { code: 'BadHandshake', message: `${peer} did not answer with a handshake` };
  if (welcome.t === 'refused') return { code: 'Refused', message: `${peer} refused the connection: ${String(welcome.code)}: ${String(welcome.message)}` };
  if (welcome.t !== 'welcome' || welcome.magic !== handshakeMagic || welcome.version !== protocolVersion) return { code: 'BadHandshake', message: `${peer} did not answer with a raftchart handshake` };
  if (welcome.cluster !== clusterId) return { code: 'WrongCluster', message: `${peer}'s address answers for cluster ${JSON.stringify(welcome.cluster)}, not ${JSON.stringify(clusterId)}` };
  if (welcome.from !== peer) return { code: 'WrongServer', message: `${peer}'s address answers as ${String(welcome.from)}: check --peers` };
  return null;
}

/** Undefined when the certificate names `id` (its subject CN, or a DNS name among its alternative names); else why not. */
export function certificateProblem(cert: PeerCertificate | undefined, id: NodeId): Error | undefined {
  if (cert === undefined || cert === null || Object.keys(cert).length === 0) return new Error(`no certificate from ${id}`);
  const names = [cert.subject?.CN, ...(cert.subjectaltname ?? '').split(',').map((name) => name.trim().replace(/^DNS:/, ''))].filter((name) => typeof name === 'string' && name.length > 0);
  if (names.includes(id)) return undefined;
  return new Error(`the certificate names ${names.join(', ') || 'nobody'}, not server ${id}`);
}

function remoteOf(socket: Socket): string {
  return socket.remoteAddress === undefined ? 'unknown' : `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
}
