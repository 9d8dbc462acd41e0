import { packCommands, unpackCommands, type PackedEntries } from '../protocol/packing.ts';
import type { ClientReply, ClientRequest, ProposeReply } from './client-protocol.ts';

/**
 * How a turn's client requests and replies travel in one frame (client-protocol.ts): an array,
 * with the proposals folded into one packed run (their ids in a Float64Array, their commands in
 * one buffer, as src/protocol/packing.ts packs entries) and the successful proposal replies into
 * typed arrays beside one array of results. v8 serialization costs per object and per ArrayBuffer,
 * so a thousand proposals cost about what one does.
 */

interface ProposeMany {
  readonly op: 'proposeMany';
  readonly ids: Float64Array;
  readonly commands: PackedEntries;
}

interface DecidedMany {
  readonly op: 'decidedMany';
  readonly ids: Float64Array;
  readonly indexes: Float64Array;
  readonly terms: Float64Array;
  readonly results: unknown[];
}

/** A turn's requests as one frame's value. */
export function packRequests(requests: readonly ClientRequest[]): unknown[] {
  const out: unknown[] = [];
  const ids: number[] = [];
  const commands: Uint8Array[] = [];
  for (const request of requests) {
    if (request.op === 'propose') {
      ids.push(request.id);
      commands.push(request.command);
    } else out.push(request);
  }
  if (ids.length > 0) out.push({ op: 'proposeMany', ids: Float64Array.from(ids), commands: packCommands(commands) } satisfies ProposeMany);
  return out;
}

/** A frame's value as requests (each still to be checked), or null when it is no list of them. */
export function unpackRequests(value: unknown, requestsMax: number): unknown[] | null {
  if (!Array.isArray(value)) return [value];
  const out: unknown[] = [];
  for (const item of value) {
    if (typeof item === 'object' && item !== null && (item as { op?: unknown }).op === 'proposeMany') {
      const { ids, commands } = item as Partial<ProposeMany>;
      const unpacked = unpackCommands(commands);
      if (!(ids instanceof Float64Array) || unpacked === null || unpacked.length !== ids.length) return null;
      for (let i = 0; i < ids.length; i++) out.push({ id: ids[i], op: 'propose', command: unpacked[i] });
    } else out.push(item);
    if (out.length > requestsMax) return null;
  }
  return out;
}

/** A turn's replies to one connection as one frame's value. */
export function packReplies(replies: readonly ClientReply[]): unknown[] {
  const out: unknown[] = [];
  const decided: ProposeReply[] = [];
  for (const reply of replies) {
    if (reply.ok && 'result' in reply) decided.push(reply);
    else out.push(reply);
  }
  if (decided.length > 0) {
    out.push({
      op: 'decidedMany',
      ids: Float64Array.from(decided, (reply) => reply.id),
      indexes: Float64Array.from(decided, (reply) => reply.index),
      terms: Float64Array.from(decided, (reply) => reply.term),
      results: decided.map((reply) => reply.result),
    } satisfies DecidedMany);
  }
  return out;
}

/** Calls `onReply` for each reply a frame's value holds (anything malformed is skipped: the caller's request then times out). */
export function forEachReply(value: unknown, onReply: (reply: ClientReply) => void): void {
  for (const item of Array.isArray(value) ? value : [value]) {
    if (typeof item !== 'object' || item === null) continue;
    if ((item as { op?: unknown }).op !== 'decidedMany') {
      onReply(item as ClientReply);
      continue;
    }
    const { ids, indexes, terms, results } = item as Partial<DecidedMany>;
    if (!(ids instanceof Float64Array) || !(indexes instanceof Float64Array) || !(terms instanceof Float64Array) || !Array.isArray(results)) continue;
    for (let i = 0; i < ids.length; i++) onReply({ id: ids[i], ok: true, index: indexes[i], term: terms[i], result: results[i] });
  }
}
