import type { MessagePort } from 'node:worker_threads';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { NodeId } from '../protocol/types.ts';
import { TurnBatcher } from '../core/turn-batcher.ts';

/**
 * XState inspection events, made plain so they can leave the worker: an inspection event holds
 * actor refs and the live snapshot (a RaftLog, Uint8Arrays, functions), which structured clone
 * refuses or copies whole. Only a worker started with inspection on installs the `inspect`
 * callback (src/io/worker-entry.ts), so a cluster without it pays nothing.
 */

/** A JSON value: what every field of a ServerInspectionEvent is built from. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** One inspection event of one server's charts, JSON-able. */
export interface ServerInspectionEvent {
  readonly nodeId: NodeId;
  /** '@xstate.actor' once per actor, '@xstate.event' per event received, '@xstate.snapshot' per new state. */
  readonly type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  /** The actor's session id, prefixed with the server's id so it is unique in the cluster ('n1/x:0'). */
  readonly sessionId: string;
  readonly parentSessionId: string | null;
  /** The sender of an '@xstate.event', when another actor sent it. */
  readonly sourceSessionId: string | null;
  /** The chart's id: 'raftServer' or 'durableLog'. */
  readonly machineId: string;
  /** The event received, or the one that led to the snapshot; summarized (see summarize). */
  readonly event: Json;
  /** status, value and a summary of the context; null for '@xstate.event' and '@xstate.actor'. */
  readonly snapshot: { readonly status: string; readonly value: Json; readonly context: Json } | null;
  /** '@xstate.actor' only: the chart's config as JSON, functions as { type: name } (what Stately's tools read). */
  readonly definition: string | null;
}

/** Items of an array kept in a summary; the rest are counted. */
export const summaryArrayItemsMax = 8;
/** Nesting kept in a summary; deeper values become '…'. */
export const summaryDepthMax = 4;
/** Inspection events waiting for the next post; past this they are dropped and counted. */
export const inspectionQueueMax = 10_000;

/**
 * A JSON-able summary of `value`: plain objects and short arrays as they are, long arrays cut to
 * their first items and a count, bytes as their length, a class instance as its class name and
 * its getters' primitive values (a RaftLog shows lastIndex and lastTerm, not its entries).
 */
export function summarize(value: unknown, depth = 0): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  if (typeof value === 'function') return `[function ${value.name}]`;
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (depth >= summaryDepthMax) return '…';
  if (Array.isArray(value)) {
    const kept = value.slice(0, summaryArrayItemsMax).map((item) => summarize(item, depth + 1));
    return value.length > summaryArrayItemsMax ? [...kept, `… ${value.length - summaryArrayItemsMax} more`] : kept;
  }
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype !== null && prototype !== Object.prototype) return summarizeInstance(value as object, prototype);
  const out: Record<string, Json> = {};
  for (const [key, item] of Object.entries(value as object)) {
    if (typeof item !== 'function') out[key] = summarize(item, depth + 1);
  }
  return out;
}

function summarizeInstance(value: object, prototype: object): Json {
  const out: Record<string, Json> = { class: prototype.constructor?.name ?? 'object' };
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(prototype))) {
    if (descriptor.get === undefined) continue;
    const got: unknown = descriptor.get.call(value);
    if (got === null || ['string', 'number', 'boolean'].includes(typeof got)) out[key] = got as Json;
  }
  return out;
}

/** The config of a chart actor's logic; undefined for a callback or promise actor. */
function machineConfigOf(ref: AnyActorRef): { id?: unknown } | undefined {
  const logic = (ref as { logic?: { config?: { id?: unknown }; root?: unknown } }).logic;
  return logic?.root === undefined ? undefined : logic.config;
}

const definitions = new WeakMap<object, string>();

function definitionOf(config: object): string {
  let definition = definitions.get(config);
  if (definition === undefined) {
    definition = JSON.stringify(config, (_key, item: unknown) => (typeof item === 'function' ? { type: item.name } : item));
    definitions.set(config, definition);
  }
  return definition;
}

/**
 * The plain form of `event`, or null for what is not forwarded: XState's microstep, transition and
 * action events, and every event of an actor that is not a chart (the storage actors).
 */
function serializeInspectionEvent(nodeId: NodeId, event: InspectionEvent): ServerInspectionEvent | null {
  if (event.type !== '@xstate.actor' && event.type !== '@xstate.event' && event.type !== '@xstate.snapshot') return null;
  const ref = event.actorRef as AnyActorRef;
  const config = machineConfigOf(ref);
  if (config === undefined) return null;
  const session = (id: string | undefined) => (id === undefined ? null : `${nodeId}/${id}`);
  const base = {
    nodeId,
    type: event.type,
    sessionId: `${nodeId}/${ref.sessionId}`,
    parentSessionId: session(ref._parent?.sessionId),
    machineId: String(config.id),
  };
  switch (event.type) {
    case '@xstate.actor':
      // Sent while the actor is being built, when its snapshot cannot be read yet: the first '@xstate.snapshot' follows.
      return { ...base, sourceSessionId: null, event: null, snapshot: null, definition: definitionOf(config) };
    case '@xstate.event':
      return { ...base, sourceSessionId: session(event.sourceRef?.sessionId), event: summarizeEvent(event.event), snapshot: null, definition: null };
    case '@xstate.snapshot':
      return { ...base, sourceSessionId: null, event: summarizeEvent(event.event), snapshot: snapshotOf(event.snapshot), definition: null };
  }
}

/** Summaries of events already summarized: an '@xstate.event' and the '@xstate.snapshot' it leads to carry the same event object. */
const eventSummaries = new WeakMap<object, Json>();

function summarizeEvent(event: unknown): Json {
  if (typeof event !== 'object' || event === null) return summarize(event);
  let summary = eventSummaries.get(event);
  if (summary === undefined) {
    summary = summarize(event);
    eventSummaries.set(event, summary);
  }
  return summary;
}

function snapshotOf(snapshot: unknown): ServerInspectionEvent['snapshot'] {
  const { status, value, context } = snapshot as { status?: unknown; value?: unknown; context?: unknown };
  return { status: String(status), value: summarize(value), context: summarize(context) };
}

/**
 * An `inspect` observer for createActor that posts this server's inspection events on `port`, as
 * one array per event-loop turn; at most inspectionQueueMax wait, later ones are dropped and counted.
 */
export function inspectionPoster(nodeId: NodeId, port: MessagePort): { next(event: InspectionEvent): void; readonly counts: { posted: number; dropped: number } } {
  const counts = { posted: 0, dropped: 0 };
  const queue = new TurnBatcher<ServerInspectionEvent>((events) => {
    counts.posted += events.length;
    port.postMessage(events);
  });
  return {
    counts,
    next(event) {
      const plain = serializeInspectionEvent(nodeId, event);
      if (plain === null) return;
      if (queue.size >= inspectionQueueMax) {
        counts.dropped++;
        return;
      }
      queue.push(plain);
    },
  };
}
