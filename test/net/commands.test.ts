import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/net/serve.ts';
import { runCaptured } from '../cli/run-captured.ts';
import { freePorts } from './serve-processes.ts';
import { startTcpCluster, type TcpCluster } from './tcp-cluster.ts';

describe('raftchart kv', () => {
  let cluster: TcpCluster;
  beforeAll(async () => {
    cluster = await startTcpCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('sets, gets, deletes and reports status over the network', async () => {
    const servers = ['--servers', cluster.clientAddresses.join(',')];
    expect(await runCaptured(['kv', 'set', 'colour', '"blue"', ...servers])).toMatchObject({ code: 0, out: ['null'] });
    expect(await runCaptured(['kv', 'set', 'colour', '{"r":1}', ...servers])).toMatchObject({ code: 0, out: ['"blue"'] });
    expect(await runCaptured(['kv', 'get', 'colour', ...servers])).toMatchObject({ code: 0, out: ['{"r":1}'] });
    // Not JSON: kept as a string.
    await runCaptured(['kv', 'set', 'word', 'hello world', ...servers]);
    expect(await runCaptured(['kv', 'get', 'word', ...servers])).toMatchObject({ code: 0, out: ['"hello world"'] });
    expect(await runCaptured(['kv', 'delete', 'colour', ...servers])).toMatchObject({ code: 0, out: ['{"r":1}'] });
    expect(await runCaptured(['kv', 'get', 'colour', ...servers])).toMatchObject({ code: 0, out: ['null'] });
    const status = await runCaptured(['kv', 'status', ...servers]);
    expect(status.code).toBe(0);
    expect(status.out).toHaveLength(3);
    expect(status.out.filter((line) => / leader term \d+ /.test(line))).toHaveLength(1);
  });

  it('says what is wrong: usage (exit 2), a server nobody answers at (exit 1, Unreachable)', async () => {
    const servers = ['--servers', cluster.clientAddresses.join(',')];
    for (const argv of [['kv', 'set', 'k', ...servers], ['kv', 'fetch', 'k', ...servers], ['kv', 'get', 'k'], ['kv', 'get', 'k', '--servers', 'nowhere']]) {
      const run = await runCaptured(argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.err.join('\n')).toMatch(/raftchart kv: /);
    }
    const [closed] = await freePorts(1);
    const unreachable = await runCaptured(['kv', 'get', 'k', '--servers', `127.0.0.1:${closed}`, '--timeout-ms', '300']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.err.join('\n')).toContain('Unreachable');
  });
});

describe('raftchart serve: refusals before it serves', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'raftchart-serve-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses missing or bad options, a --peers without this server, a taken port, and a folder of another server', async () => {
    const [p1, p2, p3] = await freePorts(3);
    const peers = `n1=127.0.0.1:${p1},n2=127.0.0.1:${p2}`;
    const base = ['serve', '--listen', `127.0.0.1:${p1}`, '--peers', peers, '--quiet'];
    const cases: [string[], RegExp][] = [
      [['serve', '--listen', `127.0.0.1:${p1}`], /--id is required/],
      [[...base, '--id', 'n1'], /--data-dir is required/],
      [[...base, '--id', 'n3', '--data-dir', join(dir, 'x')], /must list this server \(n3\)/],
      [['serve', '--id', 'n1', '--listen', 'nowhere', '--peers', peers, '--data-dir', join(dir, 'x')], /--listen must be host:port/],
      [[...base, '--id', 'n1', '--data-dir', join(dir, 'x'), '--tls-cert', 'a.pem'], /all three of --tls-cert/],
      [['serve', '--id', 'n1', '--listen', `127.0.0.1:${p1}`, '--peers', 'n1=127.0.0.1:1,n1=127.0.0.1:2', '--data-dir', join(dir, 'x')], /names n1 twice/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCaptured(argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.err.join('\n')).toMatch(message);
    }
    // A folder first run as n1 is never started as n2.
    const first = await startServer({ id: 'n1', listen: { host: '127.0.0.1', port: p1 }, peers: new Map([['n1', { host: '127.0.0.1', port: p1 }], ['n2', { host: '127.0.0.1', port: p2 }]]), dataDir: join(dir, 'a'), clientListen: null, fsync: false });
    // Its peer port is taken while it runs.
    const taken = await runCaptured([...base.slice(0, 1), '--id', 'n1', '--listen', `127.0.0.1:${p1}`, '--peers', peers, '--data-dir', join(dir, 'b'), '--quiet']);
    expect(taken.code).toBe(2);
    expect(taken.err.join('\n')).toMatch(/cannot listen for peers on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
    await first.stop();
    const other = await runCaptured(['serve', '--id', 'n2', '--listen', `127.0.0.1:${p2}`, '--peers', peers, '--data-dir', join(dir, 'a'), '--quiet']);
    expect(other.code).toBe(2);
    expect(other.err.join('\n')).toMatch(/holds server n1 of cluster "raftchart", not n2/);
    const fewer = await runCaptured(['serve', '--id', 'n1', '--listen', `127.0.0.1:${p1}`, '--peers', `${peers},n3=127.0.0.1:${p3}`, '--data-dir', join(dir, 'a'), '--quiet']);
    expect(fewer.code).toBe(2);
    expect(fewer.err.join('\n')).toMatch(/began as a cluster of n1, n2/);
  });
});
