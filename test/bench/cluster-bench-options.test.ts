import { describe, expect, it } from 'vitest';
import { parseClusterBenchArgs } from '../../bench/cluster-bench-options.ts';

const parse = (argv: string[]) => parseClusterBenchArgs(argv, 'results');

function codeOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return { code: (error as { code?: unknown }).code, message: (error as Error).message };
  }
  throw new Error('expected an error');
}

describe('cluster benchmark options', () => {
  it('by default varies one axis at a time around 3 servers, 100 B, fsync on', () => {
    const options = parse([]);
    expect(options.shapes).toEqual([
      { nodes: 3, bytes: 100, fsync: true },
      { nodes: 1, bytes: 100, fsync: true },
      { nodes: 5, bytes: 100, fsync: true },
      { nodes: 3, bytes: 100, fsync: false },
      { nodes: 3, bytes: 1024, fsync: true },
    ]);
    expect(options.concurrency).toEqual([1, 16, 64, 256, 1024]);
    expect(options).toMatchObject({ reps: 3, durationMs: 4000, warmupMs: 1000, etcd: 'auto', limits: true, resultsDir: 'results', quick: false });
  });

  it('--quick measures 3 servers, 100 B, fsync on at concurrency 1 and 256', () => {
    const options = parse(['--quick']);
    expect(options.shapes).toEqual([{ nodes: 3, bytes: 100, fsync: true }]);
    expect(options.concurrency).toEqual([1, 256]);
    expect(options.quick).toBe(true);
  });

  it('takes every combination of the lists given, the rest at the center', () => {
    const options = parse(['--nodes', '5,1', '--fsync', 'off,on', '--concurrency', '8', '--duration-ms', '500', '--reps', '1', '--no-etcd']);
    expect(options.shapes).toEqual([
      { nodes: 1, bytes: 100, fsync: true },
      { nodes: 1, bytes: 100, fsync: false },
      { nodes: 5, bytes: 100, fsync: true },
      { nodes: 5, bytes: 100, fsync: false },
    ]);
    expect(options).toMatchObject({ concurrency: [8], durationMs: 500, reps: 1, etcd: 'off' });
  });

  it('refuses bad input with InvalidOptions and says what to do', () => {
    expect(codeOf(() => parse(['--frob']))).toEqual({ code: 'InvalidOptions', message: expect.stringMatching(/Unknown option '--frob'.*--help/) });
    expect(codeOf(() => parse(['--reps', 'x']))).toEqual({ code: 'InvalidOptions', message: "--reps takes a whole number from 1 to 100, got 'x'." });
    expect(codeOf(() => parse(['--concurrency', '1,0']))).toMatchObject({ code: 'InvalidOptions', message: expect.stringMatching(/--concurrency takes a comma list/) });
    expect(codeOf(() => parse(['--fsync', 'sometimes']))).toMatchObject({ code: 'InvalidOptions', message: expect.stringMatching(/--fsync takes on, off or on,off/) });
    expect(codeOf(() => parse(['--bytes', '10']))).toMatchObject({ code: 'InvalidOptions', message: expect.stringMatching(/--bytes takes .* from 38 to/) });
  });

  describe('--processes', () => {
    it('is off unless asked for: the in-process matrix is unchanged', () => {
      expect(parse([])).toMatchObject({ processes: false, raftClients: 1 });
      expect(parse([]).shapes).toHaveLength(5);
    });

    it('measures 3 serve processes, 100 B, fsync on at every concurrency (--quick: 1 and 256), beside etcd', () => {
      expect(parse(['--processes'])).toMatchObject({ processes: true, shapes: [{ nodes: 3, bytes: 100, fsync: true }], concurrency: [1, 16, 64, 256, 1024], reps: 3, etcd: 'auto' });
      expect(parse(['--processes', '--quick'])).toMatchObject({ processes: true, shapes: [{ nodes: 3, bytes: 100, fsync: true }], concurrency: [1, 256], durationMs: 2000 });
    });

    it('takes the lists given as processes, and --raft-clients', () => {
      const options = parse(['--processes', '--fsync', 'on,off', '--raft-clients', '4']);
      expect(options.shapes).toEqual([
        { nodes: 3, bytes: 100, fsync: true },
        { nodes: 3, bytes: 100, fsync: false },
      ]);
      expect(options.raftClients).toBe(4);
    });

    it('refuses --raft-clients without --processes, or out of range, with InvalidOptions', () => {
      expect(codeOf(() => parse(['--raft-clients', '2']))).toEqual({ code: 'InvalidOptions', message: '--raft-clients only applies with --processes (RaftClients of serve processes).' });
      expect(codeOf(() => parse(['--processes', '--raft-clients', '0']))).toEqual({ code: 'InvalidOptions', message: "--raft-clients takes a whole number from 1 to 64, got '0'." });
    });
  });

  describe('--inspector-page', () => {
    it('is off unless asked for', () => {
      expect(parse(['--quick']).inspectorPage).toBeNull();
    });

    it('alone, at the end or before another option, measures the inspector default rate at 1024 clients, 8 reps (--quick: 4)', () => {
      expect(parse(['--quick', '--inspector-page']).inspectorPage).toEqual({ updatesPerSecond: 2, updatesPerSecBusy: 1, concurrency: 1024, reps: 4 });
      expect(parse(['--inspector-page', '--no-etcd'])).toMatchObject({ etcd: 'off', inspectorPage: { updatesPerSecond: 2, updatesPerSecBusy: 1, reps: 8 } });
    });

    it('takes the rate after a space or an =, and the largest --concurrency and --reps given', () => {
      expect(parse(['--inspector-page', '5']).inspectorPage).toMatchObject({ updatesPerSecond: 5, updatesPerSecBusy: 5 });
      expect(parse(['--inspector-page', '4:2']).inspectorPage).toMatchObject({ updatesPerSecond: 4, updatesPerSecBusy: 2 });
      expect(parse(['--inspector-page=30', '--concurrency', '256,64', '--reps', '2']).inspectorPage).toEqual({ updatesPerSecond: 30, updatesPerSecBusy: 30, concurrency: 256, reps: 2 });
    });

    it('refuses a malformed or out-of-range rate with InvalidOptions naming the range', () => {
      const message = (got: string) => `--inspector-page takes the page's updates a second, N or N:M (M while the cluster is busy), whole numbers from 1 to 30, got '${got}'.`;
      for (const value of ['fast', '0', '31', '2.5', '', '-1']) {
        expect(codeOf(() => parse([`--inspector-page=${value}`]))).toEqual({ code: 'InvalidOptions', message: message(value) });
      }
      expect(codeOf(() => parse(['--inspector-page', 'often']))).toEqual({ code: 'InvalidOptions', message: message('often') });
      expect(codeOf(() => parse(['--inspector-page', '2:0']))).toEqual({ code: 'InvalidOptions', message: message('0') });
      expect(codeOf(() => parse(['--inspector-page', '2:1:1']))).toEqual({ code: 'InvalidOptions', message: message('2:1:1') });
    });
  });
});
