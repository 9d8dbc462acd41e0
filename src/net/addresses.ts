import { RaftchartError } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { isNodeId } from '../protocol/validate.ts';

/** Where a server listens or is reached: a TCP host and port, or (clients only) a Unix socket path. */
export type Address = { readonly host: string; readonly port: number } | { readonly path: string };

/**
 * `host:port` (`[v6]:port` for IPv6) as an Address; with `allowPath`, a string holding a `/` is a
 * Unix socket path (how the network-namespace tests reach servers on another network). Throws
 * InvalidOptions naming `what` on anything else.
 */
export function parseAddress(text: string, what: string, allowPath = false): Address {
  if (allowPath && text.includes('/')) return { path: text };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || !(port >= 0 && port <= 65_535)) {
    throw new RaftchartError('InvalidOptions', `${what} must be host:port (e.g. 127.0.0.1:7001, [::1]:7001)${allowPath ? ' or a Unix socket path' : ''}, got ${JSON.stringify(text)}.`);
  }
  return { host: match[1] ?? match[2], port };
}

export function formatAddress(address: Address): string {
  if ('path' in address) return address.path;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** `n1=127.0.0.1:7001,n2=…` as a map from server id to address, in the order given; InvalidOptions on a bad or repeated entry. */
export function parsePeers(text: string, what = '--peers'): Map<NodeId, { host: string; port: number }> {
  const peers = new Map<NodeId, { host: string; port: number }>();
  for (const part of text.split(',').map((item) => item.trim()).filter((item) => item.length > 0)) {
    const eq = part.indexOf('=');
    const id = eq < 0 ? '' : part.slice(0, eq);
    if (!isNodeId(id) || !/^[A-Za-z0-9_.-]+$/.test(id)) {
      throw new RaftchartError('InvalidOptions', `${what}: each entry is id=host:port with an id of letters, digits, '.', '_' or '-' (e.g. n1=127.0.0.1:7001), got ${JSON.stringify(part)}.`);
    }
    if (peers.has(id)) throw new RaftchartError('InvalidOptions', `${what} names ${id} twice: give each server once.`);
    const address = parseAddress(part.slice(eq + 1), `${what} entry ${id}`);
    peers.set(id, address as { host: string; port: number });
  }
  if (peers.size === 0) throw new RaftchartError('InvalidOptions', `${what} is empty: list every server of the cluster as id=host:port, comma-separated.`);
  return peers;
}
