import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { newNetworkCounters } from '../../src/bus/network-counters.ts';
import { NetworkHub } from '../../src/bus/network-hub.ts';
import type { BusTapEvent } from '../../src/bus/network-protocol.ts';
import { PeerLinks } from '../../src/bus/peer-links.ts';
import { toWire } from '../../src/protocol/packing.ts';
import type { RaftMessage } from '../../src/protocol/messages.ts';

/**
 * The network between servers in one thread: the hub (the controller's side) and a PeerLinks per
 * server (each worker's side), on real MessageChannels, without workers. Messages go sender to
 * receiver on the peer ports; the hub only sets them up, sends the model and hears taps.
 */
class FakeServers {
  readonly hub = new NetworkHub();
  readonly links = new Map<string, PeerLinks>();
  readonly received = new Map<string, unknown[][]>();

  constructor(ids: readonly string[]) {
    for (const id of ids) this.start(id);
  }

  start(id: string): void {
    const channel = new MessageChannel();
    const counters = newNetworkCounters();
    this.received.set(id, []);
    this.links.set(
      id,
      new PeerLinks({ self: id, seed: 3, control: channel.port2, counters, onReceive: (_from, batch) => this.received.get(id)?.push(batch), onRaw: () => undefined }),
    );
    this.hub.attach(id, channel.port1, counters);
  }

  crash(id: string): void {
    this.links.get(id)?.close();
    this.links.delete(id);
    this.hub.detach(id);
  }

  send(from: string, messages: readonly RaftMessage[] | readonly object[]): void {
    for (const message of messages) this.links.get(from)?.send(message as RaftMessage);
  }

  close(): void {
    this.hub.close();
    for (const links of this.links.values()) links.close();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 60));

function vote(from: string, to: string): RaftMessage {
  return { type: 'rpc.requestVote', from, to, term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false };
}

let servers: FakeServers | null = null;
afterEach(() => {
  servers?.close();
  servers = null;
});

/** Lets the hub's control messages (ports, model) reach every sender first. */
async function started(ids: readonly string[]): Promise<FakeServers> {
  servers = new FakeServers(ids);
  await settle();
  return servers;
}

describe('the network between server workers', () => {
  it('sends one turn of messages to each receiver on its own port as one batch, and counts them per type in shared memory', async () => {
    const s = await started(['n1', 'n2', 'n3']);
    const append = toWire({
      type: 'rpc.appendEntries',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      leaderCommit: 0, round: 0,
      entries: [{ index: 1, term: 1, kind: 'command', command: new Uint8Array(100) }],
    });
    s.send('n1', [vote('n1', 'n2'), vote('n1', 'n3'), vote('n1', 'n2'), append]);
    await settle();
    expect(s.received.get('n2')).toHaveLength(1);
    expect(s.received.get('n2')?.[0]).toHaveLength(3);
    expect(s.received.get('n3')?.[0]).toHaveLength(1);
    const stats = s.hub.stats();
    expect(stats.messages).toBe(4);
    expect(stats.byType['rpc.requestVote'].messages).toBe(3);
    expect(stats.byType['rpc.appendEntries'].bytes).toBeGreaterThan(100);
  });

  it('applies the model the hub sends to every sender: a partition drops, heal restores', async () => {
    const s = await started(['n1', 'n2', 'n3']);
    s.hub.model.partition([['n1'], ['n2', 'n3']]);
    s.hub.modelChanged();
    await settle();
    s.send('n1', [vote('n1', 'n2')]);
    s.send('n3', [vote('n3', 'n2')]);
    await settle();
    expect(s.received.get('n2')?.flat()).toEqual([vote('n3', 'n2')]);
    expect(s.hub.stats().dropped).toBe(1);
    s.hub.model.heal();
    s.hub.modelChanged();
    await settle();
    s.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(s.received.get('n2')?.flat()).toHaveLength(2);
  });

  it("refuses, at the receiver, a message sent in another server's name and a batch that is not an array", async () => {
    const s = await started(['n1', 'n2']);
    // n1's sender carries whatever it is given: the receiver checks who its port belongs to.
    s.send('n1', [vote('n2', 'n1') as object, { ...vote('n1', 'n2'), from: 'n3' }]);
    await settle();
    expect(s.received.get('n1')).toEqual([]);
    expect(s.received.get('n2')).toEqual([]);
    expect(s.hub.stats().malformed).toBe(1);
  });

  it('delivers nothing to a server that is down, and tells a tap the message was lost', async () => {
    const s = await started(['n1', 'n2']);
    const seen: BusTapEvent[] = [];
    s.hub.tap((event) => seen.push(event));
    s.crash('n2');
    await settle();
    s.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(s.received.get('n2')).toEqual([]);
    expect(s.hub.stats().dropped).toBe(1);
    expect(seen).toEqual([{ from: 'n1', to: 'n2', type: 'rpc.requestVote', deliveries: 0, delayMs: 0, entries: 0 }]);
  });

  it('gives a restarted server new ports to every peer, both ways', async () => {
    const s = await started(['n1', 'n2', 'n3']);
    s.crash('n2');
    s.start('n2');
    await settle();
    s.send('n1', [vote('n1', 'n2')]);
    s.send('n2', [vote('n2', 'n3')]);
    await settle();
    expect(s.received.get('n2')?.flat()).toEqual([vote('n1', 'n2')]);
    expect(s.received.get('n3')?.flat()).toEqual([vote('n2', 'n3')]);
  });

  it('loses the delayed messages of a sender that crashes (its timers die with it)', async () => {
    const s = await started(['n1', 'n2']);
    s.hub.model.configure({ delayMsMin: 30, delayMsMax: 30 });
    s.hub.modelChanged();
    await settle();
    s.send('n1', [vote('n1', 'n2'), vote('n1', 'n2')]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    s.crash('n1');
    await settle();
    expect(s.received.get('n2')).toEqual([]);
  });
});

describe('the network: taps and pause (the inspector)', () => {
  it('tells a tap every message sent and its fate, and nothing after the tap is removed', async () => {
    const s = await started(['n1', 'n2', 'n3']);
    s.hub.model.disconnect('n3');
    s.hub.modelChanged();
    const seen: BusTapEvent[] = [];
    const untap = s.hub.tap((event) => seen.push(event));
    await settle();
    s.send('n1', [vote('n1', 'n2'), vote('n1', 'n3')]);
    await settle();
    expect(seen).toEqual([
      { from: 'n1', to: 'n2', type: 'rpc.requestVote', deliveries: 1, delayMs: 0, entries: 0 },
      { from: 'n1', to: 'n3', type: 'rpc.requestVote', deliveries: 0, delayMs: 0, entries: 0 },
    ]);
    untap();
    await settle();
    s.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(seen).toHaveLength(2);
    expect(s.received.get('n2')?.flat()).toHaveLength(2);
  });

  it('counts the entries of a packed AppendEntries for a tap', async () => {
    const s = await started(['n1', 'n2']);
    const seen: BusTapEvent[] = [];
    s.hub.tap((event) => seen.push(event));
    await settle();
    const entries = [1, 2, 3].map((index) => ({ index, term: 1, kind: 'command' as const, command: new Uint8Array(4) }));
    s.send('n1', [toWire({ type: 'rpc.appendEntries', from: 'n1', to: 'n2', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, round: 0, entries })]);
    await settle();
    expect(seen.map((e) => e.entries)).toEqual([3]);
  });

  it('holds deliveries while paused and releases them, in order, on resume', async () => {
    const s = await started(['n1', 'n2']);
    s.hub.pause();
    expect(s.hub.paused).toBe(true);
    await settle();
    const first = vote('n1', 'n2');
    const second = { ...vote('n1', 'n2'), term: 2 };
    s.send('n1', [first]);
    s.send('n1', [second]);
    await settle();
    expect(s.received.get('n2')).toEqual([]);
    expect(s.hub.stats().messages).toBe(2);
    s.hub.resume();
    await settle();
    expect(s.received.get('n2')?.flat()).toEqual([first, second]);
    expect(s.hub.paused).toBe(false);
  });

  it('holds the deliveries of a server that starts while the network is paused, too', async () => {
    const s = await started(['n1', 'n2']);
    s.hub.pause();
    s.crash('n1');
    s.start('n1');
    await settle();
    s.send('n1', [vote('n1', 'n2')]);
    await settle();
    expect(s.received.get('n2')).toEqual([]);
    s.hub.resume();
    await settle();
    expect(s.received.get('n2')?.flat()).toEqual([vote('n1', 'n2')]);
  });
});
