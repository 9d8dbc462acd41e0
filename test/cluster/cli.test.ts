import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/run-cli.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';

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
