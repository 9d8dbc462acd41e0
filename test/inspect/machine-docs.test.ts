import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCaptured as run } from '../cli/run-captured.ts';
import { machineDocFiles, parseMachineDocFormat } from '../../src/inspect/machine-docs.ts';

const committed = new URL('../../docs/machines/', import.meta.url);
const refresh = 'run `npx raftchart machines` (or `node bin/raftchart.mjs machines`) to refresh docs/machines';

describe('docs/machines', () => {
  it('matches the charts: the committed files are what `raftchart machines` writes now', async () => {
    const files = machineDocFiles();
    expect((await readdir(committed)).sort(), `docs/machines holds other files than the generated ones: ${refresh}`).toEqual(files.map((file) => file.name).sort());
    for (const file of files) {
      const text = await readFile(new URL(file.name, committed), 'utf8');
      expect(text === file.text, `docs/machines/${file.name} is stale: ${refresh}`).toBe(true);
    }
  });
});

describe('raftchart machines', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    dir = null;
  });

  it('writes every format and the index page to --out', async () => {
    dir = await mkdtemp(join(tmpdir(), 'raftchart-machines-'));
    const { code } = await run(['machines', '--out', dir]);
    expect(code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual([
      'README.md',
      'durable-log.json',
      'durable-log.mmd',
      'durable-log.svg',
      'raft-server.json',
      'raft-server.mmd',
      'raft-server.svg',
    ]);
    const json = JSON.parse(await readFile(join(dir, 'raft-server.json'), 'utf8'));
    expect(json.transitions).toContainEqual(expect.objectContaining({ source: 'candidate.requestingVotes', kind: 'always', targets: ['leader'], guard: 'hasVoteQuorum' }));
  });

  it('writes one format when asked', async () => {
    dir = await mkdtemp(join(tmpdir(), 'raftchart-machines-'));
    const { code, out } = await run(['machines', '--format', 'svg', '--out', dir]);
    expect(code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['durable-log.svg', 'raft-server.svg']);
    expect(out).toHaveLength(2);
  });

  it('refuses an unknown format with InvalidOptions, and the command with exit code 2', async () => {
    expect(() => parseMachineDocFormat('png')).toThrow(expect.objectContaining({ code: 'InvalidOptions', message: expect.stringMatching(/use one of json, mermaid, svg/) }));
    const { code, err } = await run(['machines', '--format', 'png', '--out', join(tmpdir(), 'raftchart-never-written')]);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/unknown format 'png'/);
  });
});
