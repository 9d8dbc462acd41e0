import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { durableLogMachine } from '../../machines/durable-log.machine.ts';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { inspectLogTailDefault, inspectLogTailMax } from '../cluster/local-cluster.ts';
import type { ViewedCluster } from '../cluster/viewed-cluster.ts';
import { RaftchartError } from '../protocol/errors.ts';
import { InspectorFeed } from './inspector-feed.ts';
import { parseCommand, requestIdOf, runCommand, type InspectorReply } from './inspector-commands.ts';
import { machineGraph } from './machine-graph.ts';
import { ServerIds } from './server-ids.ts';
import { toSvg } from './svg.ts';
import { UpdatePacer } from './update-pacer.ts';

/** Where and how often the inspector serves; every option is checked (InvalidOptions naming it). */
export interface InspectorOptions {
  /** The address to listen on. Default 127.0.0.1: the page controls the cluster, so keep it local. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  /** When `port` is taken, listen on a free port instead of failing. Default false. */
  readonly portFallback?: boolean;
  /**
   * Updates sent to the page per second at most, in [1, 30]. Default 2: headless Chromium spends
   * ~40 ms of CPU drawing one (software compositing; ~15 ms for any frame at all), on the cores
   * the cluster runs on. `npm run bench -- --inspector-page` measures what that costs a loaded
   * cluster; the README has the figures.
   */
  readonly updatesPerSecMax?: number;
  /**
   * Updates a second while this process is busy (it used half the machine's cores or more since
   * the previous update; see src/inspect/update-pacer.ts), in [1, 30], capped at updatesPerSecMax.
   * Default 1: a loaded cluster gives the browser half as much drawing to do.
   */
  readonly updatesPerSecBusy?: number;
  /** Log entries shown per server, in [1, inspectLogTailMax] (200). Default inspectLogTailDefault (50). */
  readonly logTailMax?: number;
}

/** Updates a second the page gets by default, and at most. */
export const updatesPerSecMaxDefault = 2;
/** Updates a second the page gets by default while the process is busy. */
export const updatesPerSecBusyDefault = 1;
export const updatesPerSecMaxLimit = 30;

/** A request or WebSocket message from the page larger than this is refused. */
export const requestBytesMax = 16 * 1024;
/** A page whose socket holds more than this unsent is skipped until it catches up. */
export const socketBufferedBytesMax = 1024 * 1024;
/** Pages connected at once. */
export const clientsMax = 16;
/** Commands one page may have running at once; past this a command is refused until replies come back. */
export const commandsInFlightMax = 32;

/** The page's files, read once at start. */
const pageFiles: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/inspector.js': { file: 'inspector.js', type: 'text/javascript; charset=utf-8' },
  '/inspector.css': { file: 'inspector.css', type: 'text/css; charset=utf-8' },
};

/** No inline script or style, no eval, nothing from elsewhere: the page's own files and its own socket only. */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The statecharts, drawn once at start; the page fetches them, inserts one copy per server and
 * lights their `data-state-path` boxes. They carry presentation attributes only (no style, no
 * script), so they live in the page under its policy.
 */
const chartDrawings: Readonly<Record<string, () => string>> = {
  '/charts/raft-server.svg': () => toSvg(machineGraph(raftServerMachine)),
  '/charts/durable-log.svg': () => toSvg(machineGraph(durableLogMachine)),
};

const securityHeaders: Readonly<Record<string, string>> = {
  'Content-Security-Policy': contentSecurityPolicy,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

function invalid(option: string, why: string): RaftchartError {
  return new RaftchartError('InvalidOptions', `inspector ${option} ${why}.`, { option });
}

function wholeNumberIn(value: number | undefined, fallback: number, option: string, lo: number, hi: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < lo || n > hi) throw invalid(option, `must be a whole number from ${lo} to ${hi}, got ${String(value)}`);
  return n;
}

/**
 * The live inspector: an HTTP server for one page (src/inspect/page/) and a WebSocket that sends
 * it batched updates of `cluster` (at most updatesPerSecMax a second) and takes its commands.
 * While no page is connected it does nothing at all: no polling of workers, no tap on the bus.
 *
 * Security: it listens on 127.0.0.1 unless told otherwise; it answers only requests whose Host is
 * its own address (DNS rebinding) and refuses any request or WebSocket upgrade whose Origin is not
 * the page's own (403); only GET and HEAD; a strict Content-Security-Policy. A page's command is
 * untrusted input: a bad one gets an error reply on the socket and the cluster keeps running.
 */
export class Inspector {
  readonly #cluster: ViewedCluster;
  readonly #server: Server;
  readonly #sockets: WebSocketServer;
  readonly #feed: InspectorFeed;
  readonly #files: Map<string, Buffer>;
  readonly #logTailMax: number;
  readonly #serverIds = new ServerIds();
  readonly #pacer: UpdatePacer;
  #port = 0;
  #host = '';
  /** While pages are connected, the current watch (a fresh one each time the first page connects); null while none is. */
  #watching: symbol | null = null;
  #timer: NodeJS.Timeout | null = null;
  #nextKey = 1;
  #closing: Promise<void> | null = null;

  private constructor(cluster: ViewedCluster, files: Map<string, Buffer>, options: Required<Pick<InspectorOptions, 'updatesPerSecMax' | 'updatesPerSecBusy' | 'logTailMax'>>) {
    this.#cluster = cluster;
    this.#files = files;
    this.#pacer = new UpdatePacer({ updatesPerSecMax: options.updatesPerSecMax, updatesPerSecBusy: options.updatesPerSecBusy, cores: availableParallelism() });
    this.#feed = new InspectorFeed(cluster, { logTailMax: options.logTailMax });
    this.#logTailMax = options.logTailMax;
    this.#sockets = new WebSocketServer({ noServer: true, maxPayload: requestBytesMax, clientTracking: true });
    this.#sockets.on('connection', (socket) => this.#onConnection(socket));
    this.#server = createServer((request, response) => this.#onRequest(request, response));
    this.#server.on('upgrade', (request, socket, head) => this.#onUpgrade(request, socket, head));
  }

  /** Starts serving; resolves once listening (see `url`). */
  static async start(cluster: ViewedCluster, options: InspectorOptions = {}): Promise<Inspector> {
    const host = options.host ?? '127.0.0.1';
    if (typeof host !== 'string' || host.length === 0) throw invalid('host', 'must be an address like 127.0.0.1');
    const port = wholeNumberIn(options.port, 0, 'port', 0, 65_535);
    const resolved = {
      updatesPerSecMax: wholeNumberIn(options.updatesPerSecMax, updatesPerSecMaxDefault, 'updatesPerSecMax', 1, updatesPerSecMaxLimit),
      updatesPerSecBusy: wholeNumberIn(options.updatesPerSecBusy, updatesPerSecBusyDefault, 'updatesPerSecBusy', 1, updatesPerSecMaxLimit),
      logTailMax: wholeNumberIn(options.logTailMax, inspectLogTailDefault, 'logTailMax', 1, inspectLogTailMax),
    };
    const files = new Map<string, Buffer>();
    for (const [path, { file }] of Object.entries(pageFiles)) files.set(path, await readFile(new URL(`./page/${file}`, import.meta.url)));
    for (const [path, draw] of Object.entries(chartDrawings)) files.set(path, Buffer.from(draw()));
    const inspector = new Inspector(cluster, files, resolved);
    try {
      await inspector.#listen(host, port);
    } catch (error) {
      if (!(options.portFallback === true && (error as { code?: unknown }).code === 'EADDRINUSE' && port !== 0)) throw error;
      await inspector.#listen(host, 0);
    }
    return inspector;
  }

  /** The page's address, e.g. http://127.0.0.1:4000/. */
  get url(): string {
    return `http://${this.#hostPort()}/`;
  }

  get port(): number {
    return this.#port;
  }

  /** Pages connected now. */
  get clients(): number {
    return this.#sockets.clients.size;
  }

  /** Closes every page's socket and the server; the cluster is left running. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#stopUpdates();
      for (const socket of this.#sockets.clients) socket.terminate();
      this.#sockets.close();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  #listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        const address = this.#server.address() as AddressInfo;
        this.#port = address.port;
        this.#host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve();
      });
    });
  }

  #hostPort(): string {
    return `${this.#host}:${this.#port}`;
  }

  /** The Host values this server answers to: its own address, and localhost when it listens on loopback. */
  #isOwnHost(host: string | undefined): boolean {
    if (host === undefined) return false;
    const loopback = this.#host === '127.0.0.1' || this.#host === '[::1]';
    return host === this.#hostPort() || (loopback && (host === `localhost:${this.#port}` || host === `127.0.0.1:${this.#port}` || host === `[::1]:${this.#port}`));
  }

  /** Why `request` is refused, or null: a foreign Host, or an Origin other than the page's own (required when `originRequired`). */
  #refusal(request: IncomingMessage, originRequired: boolean): string | null {
    const host = request.headers.host;
    if (!this.#isOwnHost(host)) return `unexpected Host ${JSON.stringify(host ?? '')}: open ${this.url}`;
    const origin = request.headers.origin;
    if (origin === undefined) return originRequired ? 'no Origin: only the inspector page may connect' : null;
    return origin === `http://${host}` ? null : `Origin ${JSON.stringify(origin)} is not this inspector's page (${`http://${host}`})`;
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const refusal = this.#refusal(request, false);
    if (refusal !== null) return respond(response, 403, `Forbidden: ${refusal}\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return respond(response, 405, 'Method not allowed: the inspector takes commands on its WebSocket only\n', { Allow: 'GET, HEAD' });
    const path = (request.url ?? '/').split('?')[0];
    const body = this.#files.get(path);
    if (body === undefined) return respond(response, 404, 'Not found\n');
    const type = pageFiles[path]?.type ?? 'image/svg+xml; charset=utf-8';
    response.writeHead(200, { ...securityHeaders, 'Content-Type': type, 'Content-Length': body.byteLength });
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refusal = (request.url ?? '/').split('?')[0] !== '/live' ? 'no WebSocket here: use /live' : this.#refusal(request, true);
    if (refusal !== null || this.#sockets.clients.size >= clientsMax) {
      const status = refusal === null ? '503 Service Unavailable' : '403 Forbidden';
      const text = refusal ?? `${clientsMax} pages are open already`;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
      return;
    }
    this.#sockets.handleUpgrade(request, socket, head, (ws) => this.#sockets.emit('connection', ws, request));
  }

  /** The first message to a page; its servers are those of now (updates follow later changes). */
  #hello(): string {
    const cluster = this.#cluster;
    return JSON.stringify({
      type: 'hello',
      nodeIds: cluster.nodeIds,
      seed: cluster.seed,
      dataDir: cluster.dataDir,
      diskFaults: cluster.diskFaults,
      logTailMax: this.#logTailMax,
      charts: Object.keys(chartDrawings),
    });
  }

  #onConnection(socket: WebSocket): void {
    socket.send(this.#hello());
    const inFlight = { count: 0 };
    socket.on('message', (data, isBinary) => this.#onMessage(socket, isBinary ? null : data.toString(), inFlight));
    socket.on('close', () => {
      if (this.#sockets.clients.size === 0) this.#stopUpdates();
    });
    socket.on('error', () => socket.terminate());
    this.#startUpdates();
  }

  #startUpdates(): void {
    if (this.#watching !== null || this.#closing !== null) return;
    const watching = Symbol('watching');
    this.#watching = watching;
    this.#feed.start();
    this.#pacer.reset();
    this.#sendUpdate(watching);
  }

  #stopUpdates(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#watching = null;
    this.#feed.stop();
  }

  /**
   * One update to every page, then the next one 1/updatesPerSec of a second after this one began,
   * at the pace read now (slower while the process is busy); one is gathered at a time, so a slow
   * gathering delays the next instead of piling up. `watching`: the watch this chain belongs to.
   */
  #sendUpdate(watching: symbol): void {
    this.#timer = null;
    const startedAt = performance.now();
    const pace = this.#pacer.read(cpuMicrosNow(), startedAt);
    this.#feed
      .update(pace)
      .then((update) => {
        const text = JSON.stringify(update);
        for (const socket of this.#sockets.clients) if (socket.bufferedAmount < socketBufferedBytesMax) socket.send(text);
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.#watching !== watching) return; // every page closed meanwhile
        const waitMs = Math.max(0, startedAt + 1000 / pace.updatesPerSec - performance.now());
        this.#timer = setTimeout(() => this.#sendUpdate(watching), waitMs);
      });
  }

  #onMessage(socket: WebSocket, text: string | null, inFlight: { count: number }): void {
    let message: unknown = null;
    try {
      message = text === null ? null : JSON.parse(text);
    } catch {
      message = null;
    }
    const id = requestIdOf(message);
    const reply = (answer: InspectorReply) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(answer));
    };
    const context = { leader: this.#feed.leader, nextKey: () => this.#nextKey++, serverIds: this.#serverIds };
    inFlight.count++;
    Promise.resolve()
      .then(() => {
        if (inFlight.count > commandsInFlightMax) throw new RaftchartError('InvalidCommand', `${commandsInFlightMax} commands of this page are still running: wait for their replies.`);
        return runCommand(this.#cluster, parseCommand(message), context);
      })
      .finally(() => inFlight.count--)
      .then(
        (done) => reply({ type: 'reply', id, ok: true, text: done }),
        (error: unknown) => {
          const code = (error as { code?: unknown } | null)?.code;
          reply({ type: 'reply', id, ok: false, code: typeof code === 'string' ? code : 'Failed', message: error instanceof Error ? error.message : String(error) });
        },
      );
  }
}

/** This process's CPU time so far, user and system, in µs: every thread's (the bus's, the servers' workers'). */
function cpuMicrosNow(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function respond(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...securityHeaders, ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
