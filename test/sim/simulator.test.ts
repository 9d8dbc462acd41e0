import { describe, expect, it } from 'vitest';
import { raftServerMachine } from '../../machines/raft-server.machine.ts';
import { allFaults, noFaults, simulate, type SimFaults, type SimOptions } from '../../src/sim/simulate.ts';
import { mutants } from './mutants.ts';

function traced(options: SimOptions): { lines: string[]; report: ReturnType<typeof simulate> } {
  const lines: string[] = [];
  const report = simulate({ ...options, trace: (line) => lines.push(line) });
  return { lines, report };
}

describe('simulator', () => {
  it('elects a leader and commits the client commands without faults', () => {
    const report = simulate({ seed: 1, nodes: 5, durationMs: 2000, faults: noFaults });
    expect(report.violation).toBeNull();
    expect(report.leadersElected).toBe(1);
    expect(report.acknowledged).toBeGreaterThan(20);
    expect(report.messagesLost).toBe(0);
  });

  it('replays a seed exactly, event for event', () => {
    const first = traced({ seed: 7, nodes: 5, durationMs: 3000 });
    const second = traced({ seed: 7, nodes: 5, durationMs: 3000 });
    expect(first.lines.length).toBeGreaterThan(500);
    expect(second.lines).toEqual(first.lines);
    expect(second.report).toEqual(first.report);
    const other = traced({ seed: 8, nodes: 5, durationMs: 3000 });
    expect(other.lines).not.toEqual(first.lines);
  });

  it('replays a failing seed identically twice, with the command that replays it', () => {
    let seed = 1;
    while (simulate({ seed, nodes: 5, durationMs: 3000, machine: mutants.repliesBeforeSync }).violation === null) seed++;
    const options: SimOptions = { seed, nodes: 5, durationMs: 3000, machine: mutants.repliesBeforeSync };
    const first = simulate(options);
    const second = simulate(options);
    expect(first.violation).not.toBeNull();
    expect(second.violation).toEqual(first.violation);
    expect(first.violation?.replay).toBe(`npx raftchart sim --seed ${seed} --nodes 5 --duration 3000 --faults network,partitions,crashes,slowDisk,elections,membership --trace`);
    expect(first.violation?.recent.length).toBeGreaterThan(10);
  });

  it('reports Liveness when no leader emerges after faults stop', () => {
    const mute = raftServerMachine.provide({ actions: { requestVotes: () => {} } });
    const report = simulate({ seed: 3, nodes: 3, durationMs: 500, faults: noFaults, machine: mute });
    expect(report.violation?.invariant).toBe('Liveness');
    expect(report.violation?.detail).toMatch(/no leader within 3000 ms/);
  });

  it('stops a run on an assertion inside the chart and reports it as a violation', () => {
    const broken = raftServerMachine.provide({
      actions: { commitQuorumIndex: () => { throw new Error('boom in commitQuorumIndex'); } },
    });
    const report = simulate({ seed: 2, nodes: 3, durationMs: 500, faults: noFaults, machine: broken });
    expect(report.violation?.invariant).toBe('Assertion');
    expect(report.violation?.detail).toMatch(/boom in commitQuorumIndex/);
  });
});

/** Seeds that once exposed a bug (in the chart or the checker); each must stay clean. */
const regressionSeeds = [
  { seed: 11, nodes: 5, why: 'checker counted commit by entry term, not commit term (Leader Completeness false alarm)' },
  { seed: 42, nodes: 5, why: 'README example' },
  { seed: 21, nodes: 3, why: 'Figure 8 ground: early commit of an earlier-term entry is unsafe here' },
];

describe('simulator regression seeds', () => {
  for (const { seed, nodes, why } of regressionSeeds) {
    it(`seed ${seed} on ${nodes} servers breaks no invariant (${why})`, () => {
      const report = simulate({ seed, nodes, faults: allFaults });
      expect(report.violation).toBeNull();
      expect(report.acknowledged).toBeGreaterThan(0);
    });
  }
});

/** The bounded sweep `npm test` runs: a few hundred seeds, mixed faults, 3 and 5 servers. */
const profiles: { name: string; faults: SimFaults }[] = [
  { name: 'all', faults: allFaults },
  { name: 'network', faults: { ...noFaults, network: true } },
  { name: 'partitions', faults: { ...noFaults, partitions: true, slowDisk: true } },
  { name: 'crashes', faults: { ...noFaults, crashes: true, slowDisk: true } },
  { name: 'elections', faults: { ...noFaults, elections: true, network: true } },
  { name: 'membership', faults: { ...noFaults, membership: true, crashes: true, partitions: true } },
];

describe('bounded sweep of the correct chart', () => {
  for (const profile of profiles) {
    it(`finds no violation in 60 seeds with ${profile.name} faults`, () => {
      const failures: string[] = [];
      let configChanges = 0;
      for (let seed = 1; seed <= 60; seed++) {
        const nodes = seed % 2 === 0 ? 3 : 5;
        const report = simulate({ seed, nodes, durationMs: 3000, faults: profile.faults });
        configChanges += report.configChanges;
        if (report.violation !== null) {
          failures.push(`seed ${seed}: ${report.violation.invariant}: ${report.violation.detail}\n  replay: ${report.violation.replay}`);
        }
      }
      expect(failures).toEqual([]);
      // Membership changes happen (commit) in the seeds that draw them, and only there.
      if (profile.faults.membership) expect(configChanges).toBeGreaterThan(60);
      else expect(configChanges).toBe(0);
    });
  }
});
