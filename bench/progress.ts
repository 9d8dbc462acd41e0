/**
 * Progress on stderr: on a terminal one bar redrawn in place, elsewhere a plain line per step, so
 * a log file shows where a run was without carriage-return noise.
 */
export class Progress {
  readonly #total: number;
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #startedAt = performance.now();
  #done = 0;

  constructor(total: number, stream: { isTTY?: boolean; write(text: string): unknown } = process.stderr) {
    this.#total = total;
    this.#tty = stream.isTTY === true;
    this.#write = (text) => stream.write(text);
  }

  /** A step begins: what it measures. */
  start(label: string): void {
    const line = `${progressBar(this.#done, this.#total)} ${label}${this.#eta()}`;
    if (this.#tty) this.#write(`\r\x1b[2K${line}`);
    else this.#write(`${line}\n`);
  }

  /** The step that began last is over. */
  step(): void {
    this.#done = Math.min(this.#total, this.#done + 1);
  }

  /** Clears the bar so the table starts on a clean line. */
  finish(): void {
    if (this.#tty) this.#write('\r\x1b[2K');
  }

  #eta(): string {
    if (this.#done === 0) return '';
    const elapsedMs = performance.now() - this.#startedAt;
    const leftMs = (elapsedMs / this.#done) * (this.#total - this.#done);
    return `, ~${formatDuration(leftMs)} left`;
  }
}

const barWidth = 24;

/** `[#######.................]  7/24` */
export function progressBar(done: number, total: number): string {
  const filled = total === 0 ? barWidth : Math.round((done / total) * barWidth);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${String(done).padStart(String(total).length)}/${total}`;
}

/** 75 s → "1m15s"; under a minute → "42s". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`;
}
