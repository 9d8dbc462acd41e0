import { createServer, connect } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import type { ActorRefLike, AnyEventObject } from 'xstate';
import type { ServerInspectionEvent } from '../host/inspection-events.ts';
import { RaftchartError } from '../protocol/errors.ts';

/**
 * Streams a cluster's inspection events to Stately's inspector (https://stately.ai/inspect)
 * through @statelyai/inspect: its relay server on localhost serves a page that frames the
 * inspector and passes on, over a WebSocket, what its WebSocket inspector sends. Only the page
 * needs the internet; offline, the relay and the cluster run as usual and nothing fails.
 */
export interface StatelyBridge {
  /** The page to open in a browser. */
  readonly url: string;
  /** Hands one server's inspection event to Stately's inspector. */
  send(event: ServerInspectionEvent): void;
  /** Closes the inspector's WebSocket, then the relay server. */
  stop(): void;
}

/** What Stately's inspector takes as a snapshot: status, value, context. */
type InspectedSnapshot = Parameters<ReturnType<typeof createWebSocketInspector>['snapshot']>[1];

/** The relay's port when none is given: @statelyai/inspect's own default. */
export const statelyPortDefault = 8080;
/** How long to wait for the relay server to accept connections before giving up. */
const listenWaitMsMax = 5000;
const listenPollMs = 20;

/**
 * Starts the relay on `port` (0: any free port) and connects Stately's WebSocket inspector to it.
 * A port in use is an InvalidOptions error. `autoOpen` opens the page in the default browser.
 */
export async function startStatelyBridge(options: { port?: number; autoOpen?: boolean } = {}): Promise<StatelyBridge> {
  const port = await claimablePort(options.port ?? statelyPortDefault);
  const server = createInspectorServer({ port, autoOpen: options.autoOpen ?? false });
  try {
    await waitListening(port);
  } catch (error) {
    server.stop();
    throw error;
  }
  const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` });
  return {
    url: `http://localhost:${port}`,
    send: (event) => {
      const session = event.sessionId;
      switch (event.type) {
        case '@xstate.actor': {
          // The inspector reads the chart from `logic.config` and the parent from `_parent`.
          const ref = {
            sessionId: session,
            id: event.machineId,
            logic: { config: JSON.parse(event.definition ?? '{}') as unknown },
            _parent: event.parentSessionId === null ? undefined : { sessionId: event.parentSessionId },
          } as unknown as ActorRefLike;
          // The worker sends it before the actor's snapshot can be read: the first '@xstate.snapshot' brings it.
          inspector.actor(ref);
          break;
        }
        case '@xstate.event':
          inspector.event(session, event.event as AnyEventObject, { source: event.sourceSessionId ?? undefined });
          break;
        case '@xstate.snapshot':
          inspector.snapshot(session, (event.snapshot ?? {}) as InspectedSnapshot, { event: event.event as AnyEventObject });
          break;
      }
    },
    stop: () => {
      inspector.stop();
      server.stop();
    },
  };
}

/** `port` if nothing listens on it (a free one for 0); InvalidOptions if it is taken. */
function claimablePort(port: number): Promise<number> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return Promise.reject(new RaftchartError('InvalidOptions', `the Stately port must be a whole number from 0 to 65535, got ${String(port)}.`, { option: 'port' }));
  }
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(new RaftchartError('InvalidOptions', `port ${port} for Stately's inspector relay is not free (${error.code}): choose another with --stately-port.`, { option: 'port' }));
    });
    probe.listen(port, () => {
      const address = probe.address();
      const claimed = typeof address === 'object' && address !== null ? address.port : port;
      probe.close(() => resolve(claimed));
    });
  });
}

/** Resolves once localhost:`port` accepts a TCP connection; rejects after listenWaitMsMax. */
async function waitListening(port: number): Promise<void> {
  const deadline = Date.now() + listenWaitMsMax;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, 'localhost');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() > deadline) throw new RaftchartError('Timeout', `Stately's inspector relay did not start listening on port ${port} within ${listenWaitMsMax} ms.`);
    await new Promise((resolve) => setTimeout(resolve, listenPollMs));
  }
}
