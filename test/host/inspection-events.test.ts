import type { MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { RaftLog } from '../../src/core/raft-log.ts';
import { inspectionPoster, summarize, summaryArrayItemsMax } from '../../src/host/inspection-events.ts';

describe('inspection event summaries', () => {
  it('keep plain data, cut long arrays, show bytes by length and a class by its getters', () => {
    const log = new RaftLog([
      { index: 1, term: 1, kind: 'noop', command: new Uint8Array(0) },
      { index: 2, term: 3, kind: 'command', command: new Uint8Array(5) },
    ]);
    const summary = summarize({
      currentTerm: 3,
      votedFor: null,
      log,
      commands: Array.from({ length: 20 }, (_, i) => new Uint8Array(i)),
      progress: { n2: { nextIndex: 3, matchIndex: 2 } },
      draw: () => 1,
    });
    expect(summary).toEqual({
      currentTerm: 3,
      votedFor: null,
      log: { class: 'RaftLog', baseIndex: 0, baseTerm: 0, firstIndex: 1, lastIndex: 2, lastTerm: 3, removalCount: 0 },
      commands: [...Array.from({ length: summaryArrayItemsMax }, (_, i) => `[${i} bytes]`), `… ${20 - summaryArrayItemsMax} more`],
      progress: { n2: { nextIndex: 3, matchIndex: 2 } },
    });
    expect(summarize({ a: { b: { c: { d: { e: 1 } } } } })).toEqual({ a: { b: { c: { d: '…' } } } });
  });
});

describe('inspectionPoster', () => {
  it('posts an event and the snapshot it led to with one summary of that event, not two', async () => {
    const posted: unknown[][] = [];
    const poster = inspectionPoster('n1', { postMessage: (events: unknown[]) => posted.push(events) } as unknown as MessagePort);
    const machine = setup({}).createMachine({ id: 'toggle', initial: 'off', states: { off: { on: { flip: 'on' } }, on: {} } });
    const actor = createActor(machine, { inspect: poster }).start();
    actor.send({ type: 'flip', payload: { big: Array.from({ length: 20 }, (_, i) => i) } });
    await new Promise((resolve) => setImmediate(resolve));
    const events = posted.flat() as { type: string; event: unknown; snapshot: unknown }[];
    const received = events.find((e) => e.type === '@xstate.event' && (e.event as { type?: string })?.type === 'flip');
    const snapshot = events.find((e) => e.type === '@xstate.snapshot' && (e.event as { type?: string })?.type === 'flip');
    expect(received).toBeDefined();
    expect(snapshot?.snapshot).toMatchObject({ value: 'on' });
    expect(snapshot?.event).toBe(received?.event);
    actor.stop();
  });
});
