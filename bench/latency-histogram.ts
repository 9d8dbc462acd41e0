import { build, type Histogram } from 'hdr-histogram-js';

/**
 * Latencies in an HDR histogram (hdr-histogram-js, its pure-JS build: no WebAssembly to load or
 * free), recorded in whole microseconds with 3 significant digits, so percentiles are within 0.1%.
 */
export class LatencyHistogram {
  readonly #histogram: Histogram = build({ useWebAssembly: false, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1 });

  /** Records one latency given in milliseconds (as performance.now() differences are); below 1 µs counts as 1 µs. */
  recordMs(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** Adds every value `other` recorded. */
  add(other: LatencyHistogram): void {
    this.#histogram.add(other.#histogram);
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  /** Percentiles and extremes in milliseconds; NaN everywhere when nothing was recorded. */
  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, minMs: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN };
    // A percentile is the top of its bucket, which can lie above the largest value recorded.
    const ms = (micros: number) => Math.min(micros, this.#histogram.maxValue) / 1000;
    return {
      count: this.count,
      minMs: ms(this.#histogram.minNonZeroValue),
      p50Ms: ms(this.#histogram.getValueAtPercentile(50)),
      p99Ms: ms(this.#histogram.getValueAtPercentile(99)),
      p999Ms: ms(this.#histogram.getValueAtPercentile(99.9)),
      maxMs: ms(this.#histogram.maxValue),
    };
  }
}

export interface LatencySummary {
  readonly count: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}
