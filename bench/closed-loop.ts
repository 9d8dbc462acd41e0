import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMicrosSince } from './common.ts';
import { LatencyHistogram } from './latency-histogram.ts';

/**
 * The workload both systems get: `concurrency` closed-loop clients, each sending its next
 * operation as soon as the last one completed. A warm-up runs first, unmeasured, at the same
 * concurrency; then every operation that completes in the measured window counts, its latency
 * (start → completion, performance.now()) into an HDR histogram.
 */

/** Where a system's CPU time and memory are read: for raftchart this process, for etcd its members too. */
export interface ResourceProbe {
  /** CPU time so far (user + system), in µs, of everything that serves and drives the load. */
  cpuMicros(): number;
  /** Resident memory now, in bytes. */
  rssBytes(): number;
  /** CPU time so far, in µs, of a bystander that shares the machine (the inspector page's browser); read at the window's start and end. */
  bystanderCpuMicros?(): number;
}

export interface LoadPlan {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** One measured window. */
export interface LoadWindow {
  readonly ops: number;
  readonly ms: number;
  readonly cpuMicros: number;
  readonly peakRssBytes: number;
  readonly latencies: LatencyHistogram;
  /** The probe's bystander's CPU time in the window, in µs; absent when the probe has none. */
  readonly bystanderCpuMicros?: number;
}

/** How often resident memory is sampled during a measured window. */
const rssSampleMs = 200;

/**
 * Runs `operation(client)` in `plan.concurrency` closed loops; resolves once every client has
 * finished its last operation. An operation that throws stops every client and rejects. The
 * warm-up lasts `plan.warmupMs` and, when `ready` is given, until the promise it returns (called
 * as the warm-up begins, beside the load) resolves: a change to measure under load.
 */
export async function runClosedLoop(operation: (client: number) => Promise<void>, plan: LoadPlan, probe: ResourceProbe, ready?: () => Promise<void>): Promise<LoadWindow> {
  const latencies = new LatencyHistogram();
  let running = true;
  let measuring = false;
  let ops = 0;
  const client = async (index: number) => {
    while (running) {
      const sentAt = performance.now();
      await operation(index);
      if (measuring) {
        latencies.recordMs(performance.now() - sentAt);
        ops++;
      }
    }
  };
  const clients = Promise.all(Array.from({ length: plan.concurrency }, (_, index) => client(index)));
  const clientsFailed = clients.then(() => {
    throw new Error('the clients stopped before the measurement ended');
  });
  // Handled here too: once the window has closed, the clients ending is no failure.
  clientsFailed.catch(() => undefined);
  // Until the window closes, a failing client ends the wait at once.
  const wait = (ms: number) => Promise.race([sleep(ms), clientsFailed]);
  let peakRssBytes = 0;
  const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, probe.rssBytes())), rssSampleMs);
  try {
    await Promise.all([wait(plan.warmupMs), ready === undefined ? undefined : Promise.race([ready(), clientsFailed])]);
    const cpuAtStart = probe.cpuMicros();
    const bystanderAtStart = probe.bystanderCpuMicros?.();
    peakRssBytes = probe.rssBytes();
    const start = performance.now();
    measuring = true;
    await wait(plan.durationMs);
    measuring = false;
    const ms = performance.now() - start;
    const cpuMicros = probe.cpuMicros() - cpuAtStart;
    const bystanderCpuMicros = bystanderAtStart === undefined ? undefined : (probe.bystanderCpuMicros?.() ?? bystanderAtStart) - bystanderAtStart;
    peakRssBytes = Math.max(peakRssBytes, probe.rssBytes());
    running = false;
    await clients;
    return { ops, ms, cpuMicros, peakRssBytes, latencies, ...(bystanderCpuMicros === undefined ? {} : { bystanderCpuMicros }) };
  } finally {
    running = false;
    clearInterval(sampler);
    await clients.catch(() => undefined);
  }
}

/** This process: every thread (main and workers) counts in process.cpuUsage() and its RSS. */
export const thisProcess: ResourceProbe = {
  cpuMicros: () => cpuMicrosSince({ user: 0, system: 0 }),
  rssBytes: () => process.memoryUsage.rss(),
};
