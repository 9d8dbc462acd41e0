import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { quantile, rawAppendSyncRound } from './common.ts';

/**
 * The machine's limits, measured in the same run as the clusters so ratios mean something on a
 * noisy machine: the disk (one append + fdatasync at a time, as log-bench's raw loop) and
 * worker-to-worker postMessage (what the data plane rides on).
 */

export interface DiskLimit {
  readonly bytes: number;
  /** Appends, each followed by an fdatasync, per second, one at a time. */
  readonly syncsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface PostMessageLimit {
  /** Small messages per second, one postMessage each. */
  readonly unbatchedPerSec: number;
  /** Small messages per second, `batchSize` to a postMessage (an array, as the data plane sends a turn's messages). */
  readonly batchedPerSec: number;
  readonly batchSize: number;
}

export interface MachineLimits {
  readonly disk: DiskLimit;
  readonly postMessage: PostMessageLimit;
}

export async function measureLimits(parentDir: string, bytes: number, durationMs: number): Promise<MachineLimits> {
  const dir = await mkdtemp(join(parentDir, 'raftchart-bench-disk-'));
  try {
    const round = await rawAppendSyncRound(join(dir, 'raw'), bytes, durationMs);
    const sorted = round.latencies.sort();
    const disk = { bytes, syncsPerSec: (round.records / round.ms) * 1000, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
    const unbatchedPerSec = await postMessageRate(1, durationMs);
    const batchedPerSec = await postMessageRate(postMessageBatch, durationMs);
    return { disk, postMessage: { unbatchedPerSec, batchedPerSec, batchSize: postMessageBatch } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Messages per postMessage in the batched probe. */
const postMessageBatch = 64;
/** postMessages the sender keeps unacknowledged: enough to keep both threads busy, bounded so no queue grows. */
const postsInFlightMax = 256;
/** The receiver acknowledges every this many postMessages. */
const ackEvery = 32;

/**
 * Two workers joined by a MessageChannel. The sender posts small objects shaped like an
 * AppendEntries reply, `batch` to an array per postMessage (1: the object alone), for `durationMs`;
 * the receiver counts them and acknowledges every `ackEvery` posts, so at most `postsInFlightMax`
 * are queued. Resolves messages received per second.
 */
async function postMessageRate(batch: number, durationMs: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const receiver = new Worker(receiverSource, { eval: true, workerData: { port: port2, ackEvery }, transferList: [port2] });
  const sender = new Worker(senderSource, { eval: true, workerData: { port: port1, batch, durationMs, postsInFlightMax, ackEvery }, transferList: [port1] });
  try {
    const done = new Promise<{ messages: number; ms: number }>((resolve, reject) => {
      sender.once('message', resolve);
      sender.once('error', reject);
      receiver.once('error', reject);
    });
    const { messages, ms } = await done;
    return (messages / ms) * 1000;
  } finally {
    await Promise.all([sender.terminate(), receiver.terminate()]);
  }
}

const receiverSource = `
const { workerData } = require('node:worker_threads');
const { port, ackEvery } = workerData;
let posts = 0;
let messages = 0;
port.on('message', (data) => {
  messages += Array.isArray(data) ? data.length : 1;
  if (++posts % ackEvery === 0) port.postMessage(messages);
});
`;

const senderSource = `
const { workerData, parentPort } = require('node:worker_threads');
const { port, batch, durationMs, postsInFlightMax, ackEvery } = workerData;
const reply = (i) => ({ type: 'rpc.appendEntries.reply', from: 'n2', to: 'n1', term: 3, success: true, matchIndex: i });
let sent = 0;
let acked = 0;
let received = 0;
const start = performance.now();
const pump = () => {
  while (sent - acked < postsInFlightMax && performance.now() - start < durationMs) {
    port.postMessage(batch === 1 ? reply(sent) : Array.from({ length: batch }, (_, i) => reply(sent * batch + i)));
    sent++;
  }
  if (performance.now() - start >= durationMs && acked >= sent - (sent % ackEvery)) {
    parentPort.postMessage({ messages: received, ms: performance.now() - start });
    port.close();
  }
};
port.on('message', (count) => {
  received = count;
  acked += ackEvery;
  pump();
});
pump();
`;
