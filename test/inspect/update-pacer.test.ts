import { describe, expect, it } from 'vitest';
import { busyShareEnter, busyShareLeave, UpdatePacer } from '../../src/inspect/update-pacer.ts';

/** Feeds `pacer` one reading per share (of 2 cores, 500 ms apart) and returns the rates it chose. */
function ratesFor(pacer: UpdatePacer, shares: readonly number[]): number[] {
  let cpuMicros = 0;
  let atMs = 0;
  const rates = [pacer.read(cpuMicros, atMs).updatesPerSec];
  for (const share of shares) {
    atMs += 500;
    cpuMicros += share * 2 * 500 * 1000;
    rates.push(pacer.read(cpuMicros, atMs).updatesPerSec);
  }
  return rates;
}

describe('UpdatePacer', () => {
  it('slows the page while the process uses half the cores or more, and speeds it up once it falls well under', () => {
    const pacer = new UpdatePacer({ updatesPerSecMax: 4, updatesPerSecBusy: 1, cores: 2 });
    const between = (busyShareEnter + busyShareLeave) / 2;
    expect(ratesFor(pacer, [0.05, busyShareEnter, between, between, busyShareLeave - 0.01, between, 0.9])).toEqual([4, 4, 1, 1, 1, 4, 4, 1]);
  });

  it('reports the share it measured and starts quiet after a reset', () => {
    const pacer = new UpdatePacer({ updatesPerSecMax: 2, updatesPerSecBusy: 1, cores: 4 });
    expect(pacer.read(0, 0)).toEqual({ updatesPerSec: 2, busy: false, cpuShare: null });
    // 3 cores' worth of CPU for 1 s on 4 cores.
    expect(pacer.read(3_000_000, 1000)).toEqual({ updatesPerSec: 1, busy: true, cpuShare: 0.75 });
    pacer.reset();
    expect(pacer.read(3_000_000, 1000)).toEqual({ updatesPerSec: 2, busy: false, cpuShare: null });
    // No time passed: no new share, the pace holds.
    expect(pacer.read(9_000_000, 1000)).toMatchObject({ busy: false, cpuShare: null });
  });

  it('never runs faster while busy than when quiet', () => {
    const pacer = new UpdatePacer({ updatesPerSecMax: 1, updatesPerSecBusy: 5, cores: 1 });
    expect(ratesFor(pacer, [1, 1])).toEqual([1, 1, 1]);
  });
});
