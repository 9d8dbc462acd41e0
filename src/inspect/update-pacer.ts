/**
 * How often the inspector page is updated: at most `updatesPerSecMax` while the process is quiet,
 * `updatesPerSecBusy` while it is busy. A page costs a browser ~40 ms of CPU per update (headless
 * Chromium, software compositing), and when that browser runs on the cores the cluster runs on, a
 * cluster that already uses them loses that time; an idle cluster loses nothing. Busy means this
 * process (the bus and every server's worker) used at least `busyShareEnter` of the machine's cores
 * since the previous update; it stays busy until that falls under `busyShareLeave`, so a load near
 * the line does not flip the rate every update.
 */
export interface PaceReading {
  /** Updates a second until the next reading. */
  readonly updatesPerSec: number;
  readonly busy: boolean;
  /** The share of the machine's cores this process used since the previous reading, in [0, 1]; null for the first. */
  readonly cpuShare: number | null;
}

export const busyShareEnter = 0.5;
export const busyShareLeave = 0.35;

export class UpdatePacer {
  readonly #idlePerSec: number;
  readonly #busyPerSec: number;
  readonly #cores: number;
  #busy = false;
  #last: { readonly cpuMicros: number; readonly atMs: number } | null = null;

  constructor(options: { readonly updatesPerSecMax: number; readonly updatesPerSecBusy: number; readonly cores: number }) {
    this.#idlePerSec = options.updatesPerSecMax;
    this.#busyPerSec = Math.min(options.updatesPerSecBusy, options.updatesPerSecMax);
    this.#cores = Math.max(1, options.cores);
  }

  /** Forgets the previous reading (the page closed): the next one starts a fresh interval, not busy. */
  reset(): void {
    this.#last = null;
    this.#busy = false;
  }

  /** Takes the process's CPU time so far (user + system, µs) at `atMs` and returns the pace until the next reading. */
  read(cpuMicros: number, atMs: number): PaceReading {
    const last = this.#last;
    this.#last = { cpuMicros, atMs };
    if (last === null || atMs <= last.atMs) return { updatesPerSec: this.#perSec(), busy: this.#busy, cpuShare: null };
    const cpuShare = Math.min(1, Math.max(0, (cpuMicros - last.cpuMicros) / 1000 / (atMs - last.atMs) / this.#cores));
    this.#busy = this.#busy ? cpuShare >= busyShareLeave : cpuShare >= busyShareEnter;
    return { updatesPerSec: this.#perSec(), busy: this.#busy, cpuShare };
  }

  #perSec(): number {
    return this.#busy ? this.#busyPerSec : this.#idlePerSec;
  }
}
