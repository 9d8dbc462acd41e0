import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageBus, type BusTapEvent } from '../../src/bus/message-bus.ts';
import { toWire } from '../../src/protocol/packing.ts';
import type { RaftMessage } from '../../src/protocol/messages.ts';

/** The bus alone, between MessageChannels standing in for workers (no threads). */
class FakeWorkers {
  readonly ports = new Map<string, MessagePort>();
  readonly received = new Map<string, unknown[][]>();
  readonly bus = new MessageBus({ seed: 3 });

  constructor(ids: readonly string[]) {
    for (const id of ids) {
      const channel = new MessageChannel();
      this.bus.attach(id, channel.port1);
      this.ports.set(id, channel.port2);
      this.received.set(id, []);
      channel.port2.on('message', (batch: unknown[]) => this.received.get(id)?.push(batch));
    }
  }

  send(from: string, batch: unknown[]): void {
    this.ports.get(from)?.postMessage(batch);
  }

  close(): void {
    this.bus.close();
    for (const port of this.ports.values()) port.close();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 60));

function vote(from: string, to: string): RaftMessage {
  return { type: 'rpc.requestVote', from, to, term: 1, lastLogIndex: 0, lastLogTerm: 0 };
}

let workers: FakeWorkers | null = null;
afterEach(() => {
  workers?.close();
  workers = null;
});

describe('MessageBus', () => {
  it('forwards one turn of messages to each receiver as one batch, and counts them per type', async () => {
    workers = new FakeWorkers(['n1', 'n2', 'n3']);
    const append = toWire({
      type: 'rpc.appendEntries',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      leaderCommit: 0,
      entries: [{ index: 1, term: 1, kind: 'command', command: new Uint8Array(100) }],
    });
    workers.send('n1', [vote('n1', 'n2'), vote('n1', 'n3'), vote('n1', 'n2'), append]);
    await settle();
    expect(workers.received.get('n2')).toHaveLength(1);
    expect(workers.received.get('n2')?.[0]).toHaveLength(3);
    expect(workers.received.get('n3')?.[0]).toHaveLength(1);
    const stats = workers.bus.stats();
    expect(stats.messages).toBe(4);
    expect(stats.byType['rpc.requestVote'].messages).toBe(3);
    expect(stats.byType['rpc.appendEntries'].bytes).toBeGreaterThan(100);
  });

  it('applies the network model: a partition drops, heal restores', async () => {
    workers = new FakeWorkers(['n1', 'n2', 'n3']);
    workers.bus.model.partition([['n1'], ['n2', 'n3']]);
    workers.send('n1', [vote('n1', 'n2')]);
    workers.send('n3', [vote('n3', 'n2')]);
    await settle();
    expect(workers.received.get('n2')?.flat()).toEqual([vote('n3', 'n2')]);
    expect(workers.bus.stats().dropped).toBe(1);
    workers.bus.model.heal();
    workers.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(workers.received.get('n2')?.flat()).toHaveLength(2);
  });

  it("refuses a message sent in another server's name, and a batch that is not an array", async () => {
    workers = new FakeWorkers(['n1', 'n2']);
    workers.send('n1', [vote('n2', 'n1'), 'junk', null]);
    workers.ports.get('n1')?.postMessage({ not: 'a batch' });
    await settle();
    expect(workers.received.get('n1')).toEqual([]);
    expect(workers.bus.stats().malformed).toBe(4);
  });

  it('delivers nothing to a detached server, and tells a tap the message was lost', async () => {
    workers = new FakeWorkers(['n1', 'n2']);
    const seen: BusTapEvent[] = [];
    workers.bus.tap((event) => seen.push(event));
    workers.bus.detach('n2');
    workers.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(workers.received.get('n2')).toEqual([]);
    expect(workers.bus.stats().dropped).toBe(1);
    expect(seen).toEqual([{ from: 'n1', to: 'n2', type: 'rpc.requestVote', deliveries: 0, delayMs: 0, entries: 0 }]);
  });

  it('cancels the queued and delayed messages of a server it detaches (a crash takes them along)', async () => {
    workers = new FakeWorkers(['n1', 'n2']);
    workers.bus.model.configure({ delayMsMin: 30, delayMsMax: 30 });
    workers.send('n1', [vote('n1', 'n2'), vote('n1', 'n2')]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    workers.bus.detach('n1');
    await settle();
    expect(workers.received.get('n2')).toEqual([]);
    expect(workers.bus.stats().dropped).toBe(2);
  });
});

describe('MessageBus taps and pause (the inspector)', () => {
  it('tells a tap every routed message and its fate, and nothing after the tap is removed', async () => {
    workers = new FakeWorkers(['n1', 'n2', 'n3']);
    workers.bus.model.disconnect('n3');
    const seen: BusTapEvent[] = [];
    const untap = workers.bus.tap((event) => seen.push(event));
    workers.send('n1', [vote('n1', 'n2'), vote('n1', 'n3')]);
    await settle();
    expect(seen).toEqual([
      { from: 'n1', to: 'n2', type: 'rpc.requestVote', deliveries: 1, delayMs: 0, entries: 0 },
      { from: 'n1', to: 'n3', type: 'rpc.requestVote', deliveries: 0, delayMs: 0, entries: 0 },
    ]);
    untap();
    workers.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(seen).toHaveLength(2);
    expect(workers.received.get('n2')?.flat()).toHaveLength(2);
  });

  it('counts the entries of a packed AppendEntries for a tap', async () => {
    workers = new FakeWorkers(['n1', 'n2']);
    const seen: BusTapEvent[] = [];
    workers.bus.tap((event) => seen.push(event));
    const entries = [1, 2, 3].map((index) => ({ index, term: 1, kind: 'command' as const, command: new Uint8Array(4) }));
    workers.send('n1', [toWire({ type: 'rpc.appendEntries', from: 'n1', to: 'n2', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries })]);
    await settle();
    expect(seen.map((e) => e.entries)).toEqual([3]);
  });

  it('holds deliveries while paused and releases them, in order, on resume', async () => {
    workers = new FakeWorkers(['n1', 'n2']);
    workers.bus.pause();
    expect(workers.bus.paused).toBe(true);
    const first = vote('n1', 'n2');
    const second = { ...vote('n1', 'n2'), term: 2 };
    workers.send('n1', [first]);
    workers.send('n1', [second]);
    await settle();
    expect(workers.received.get('n2')).toEqual([]);
    expect(workers.bus.stats().messages).toBe(2);
    workers.bus.resume();
    await settle();
    expect(workers.received.get('n2')?.flat()).toEqual([first, second]);
    expect(workers.bus.paused).toBe(false);
  });
});
