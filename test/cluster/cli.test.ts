import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clusterCommand } from '../../src/cli/cluster-command.ts';
import { runCli } from '../../src/cli/run-cli.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { statuses, waitFor } from './harness.ts';

describe('raftchart cluster (not a terminal)', () => {
  it('prints a status line per second, then stops by itself after --duration-ms', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['cluster', '--nodes', '3', '--no-fsync', '--duration-ms', '3500'], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^cluster of 3 in /);
    const statusLines = out.filter((l) => / msg\/s$/.test(l));
    expect(statusLines.length).toBeGreaterThanOrEqual(2);
    expect(statusLines.at(-1)).toMatch(/leader n\d term \d+ \| n1 /);
    expect(out.at(-1)).toBe('stopped');
  });

  it('runs CheckQuorum unless --no-check-quorum, and breakable disks with --disk-faults', async () => {
    const start = vi.spyOn(LocalCluster, 'start');
    try {
      for (const [flags, checkQuorum, diskFaults] of [[[], true, false], [['--no-check-quorum', '--disk-faults'], false, true]] as const) {
        const code = await runCli(['cluster', '--nodes', '1', '--no-fsync', ...flags, '--duration-ms', '200'], { out: () => undefined, err: () => undefined });
        expect(code).toBe(0);
        expect(start.mock.lastCall?.[0]).toMatchObject({ checkQuorum, diskFaults });
      }
    } finally {
      start.mockRestore();
    }
  });

  it('refuses a malformed --election-timeout with exit code 2', async () => {
    const err: string[] = [];
    const code = await runCli(['cluster', '--election-timeout', '300'], { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('--election-timeout must look like 150-300');
  });

  it('refuses a heartbeat too long for the election timeout with exit code 2 and the reason', async () => {
    const err: string[] = [];
    const code = await runCli(['cluster', '--heartbeat', '100'], { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('heartbeatIntervalMs');
  });

  it('serves the inspector with --port and prints its URL', async () => {
    const out: string[] = [];
    const code = await runCli(['cluster', '--nodes', '1', '--no-fsync', '--port', '0', '--duration-ms', '1000'], { out: (l) => out.push(l), err: () => undefined });
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^inspector: http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('refuses a taken --port with exit code 2, and a malformed one', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as { port: number }).port;
    try {
      const err: string[] = [];
      const code = await runCli(['cluster', '--nodes', '1', '--no-fsync', '--port', String(taken), '--duration-ms', '500'], { out: () => undefined, err: (l) => err.push(l) });
      expect(code).toBe(2);
      expect(err.join('\n')).toContain(`--port ${taken}: the port is taken`);
    } finally {
      holder.close();
    }
    const err: string[] = [];
    expect(await runCli(['cluster', '--port', 'http'], { out: () => undefined, err: (l) => err.push(l) })).toBe(2);
    expect(err.join('\n')).toContain('--port must be a whole number');
  });
});

describe('raftchart cluster (a terminal: the live view and its keys)', () => {
  let keys: PassThrough | null = null;
  let running: Promise<number> | null = null;
  afterEach(async () => {
    // q stops the view, which stops the cluster, even after a failed expectation.
    keys?.write('q');
    await running;
    keys = null;
    running = null;
    vi.restoreAllMocks();
  });

  it('adds a learner (a), promotes it (o, then its row) and removes a server (r, then its row); the view follows, with each server configuration', { timeout: 120_000 }, async () => {
    const start = vi.spyOn(LocalCluster, 'start');
    const frames: string[] = [];
    keys = new PassThrough();
    running = clusterCommand(['--nodes', '3', '--no-fsync', '--duration-ms', '110000'], { out: (frame) => frames.push(frame), err: (line) => frames.push(line) }, true, keys);
    const frame = () => frames.at(-1) ?? '';
    const rows = () => frame().split('\n').filter((line) => /^ {0,2}\d? n\d /.test(line));
    const press = (...presses: string[]) => presses.forEach((key) => keys?.write(key));
    await waitFor('a leader in the view', () => /^leader n\d /m.test(frame()), 30_000);
    const cluster = await start.mock.results[0].value as LocalCluster;
    expect(frame()).toContain('a add learner  o+row promote  r+row remove');

    press('a');
    await waitFor('n4 added', () => /n4 added as a learner/.test(frame()), 30_000);
    await waitFor('a row for n4, a learner in its own view', () => rows().some((row) => /^  4 n4 +learner .* voters: n1 n2 n3 · learners: n4$/.test(row)), 15_000);
    expect(rows().map((row) => row.slice(0, 6))).toEqual(['  1 n1', '  2 n2', '  3 n3', '  4 n4']);

    // A learner is promoted once it has caught up: press again while it lags.
    await waitFor('n4 promoted', async () => {
      await waitFor('no change on its way', () => !frame().includes('promote n4…'), 15_000);
      if (/n4 promoted to voter/.test(frame())) return true;
      expect(frame()).not.toMatch(/InvalidOptions|UnknownNode|ConfigChangeInProgress/);
      press('o', '4');
      await waitFor('the promotion asked', () => frame().includes('promote n4…') || /n4 promoted|LearnerNotCaughtUp/.test(frame()), 5_000);
      return undefined;
    }, 30_000);
    await waitFor('every server to see n4 vote', async () => (await statuses(cluster)).every((s) => s.voters.length === 4));

    press('r', '1');
    await waitFor('n1 removed', () => /n1 removed and stopped .*voters: n2 n3 n4$/.test(frame()), 30_000);
    await waitFor('rows without n1', () => rows().length === 3 && rows()[0].startsWith('  1 n2'), 5_000);
    expect(cluster.nodeIds).toEqual(['n2', 'n3', 'n4']);
    // A row key then no server: cancelled, nothing changes.
    press('r', '9');
    await waitFor('the cancel', () => frame().includes('remove: cancelled (no server in row "9")'), 5_000);
    expect(cluster.nodeIds).toEqual(['n2', 'n3', 'n4']);

    press('q');
    expect(await running).toBe(0);
  });
});
