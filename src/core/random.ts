import { assert } from './assert.ts';

/**
 * A seeded pseudo-random generator (sfc32-like "mulberry32" step) whose whole state is one uint32,
 * so a chart can keep it in its context and a seed replays every choice exactly.
 * Never Math.random: that would break the simulator's replay.
 */
export type RandomState = number;

/** Returns a float in [0, 1) and the next state. */
export function nextRandom(state: RandomState): [value: number, next: RandomState] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  const value = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return [value, next];
}

/** Returns an integer in [lo, hi] (both inclusive) and the next state. */
export function nextIntInclusive(state: RandomState, lo: number, hi: number): [value: number, next: RandomState] {
  assert(Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi, `bad range [${lo}, ${hi}]`);
  const [value, next] = nextRandom(state);
  return [lo + Math.floor(value * (hi - lo + 1)), next];
}

/** Mixes a seed and a stream name into an independent starting state (one stream per server, network, …). */
export function deriveRandomState(seed: number, stream: string): RandomState {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < stream.length; i++) {
    h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** A mutable generator over one stream, for hosts (the simulator, the bus) that own their randomness. */
export class Random {
  private state: RandomState;

  constructor(seed: number, stream = 'default') {
    this.state = deriveRandomState(seed, stream);
  }

  /** A float in [0, 1). */
  float(): number {
    const [value, next] = nextRandom(this.state);
    this.state = next;
    return value;
  }

  /** An integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    const [value, next] = nextIntInclusive(this.state, lo, hi);
    this.state = next;
    return value;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty array');
    return items[this.int(0, items.length - 1)];
  }
}
