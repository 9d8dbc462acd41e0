import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.ts';

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

describe('raftchart command', () => {
  it('runs the demo: a leader is elected and every server applies the commands', async () => {
    const { code, out } = await run(['demo', '--nodes', '3', '--commands', '2']);
    expect(code).toBe(0);
    expect(out.some((line) => /becomes leader in term 1/.test(line))).toBe(true);
    expect(out.filter((line) => /applies #3 .*"set x=2"/.test(line))).toHaveLength(3);
  });

  it('runs one simulator seed and says no invariant broke', async () => {
    const { code, out } = await run(['sim', '--seed', '5', '--nodes', '3', '--duration', '1000']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^seed 5: 3 servers/);
    expect(out).toContain('no invariant broken');
  });

  it('refuses an unknown fault name with exit code 2 and says what to use', async () => {
    const { code, err } = await run(['sim', '--seed', '1', '--faults', 'meteors']);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/unknown fault 'meteors': use all, none, or some of network/);
  });

  it('refuses an unknown command with exit code 2', async () => {
    const { code, err } = await run(['frobnicate']);
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/unknown command 'frobnicate'/);
  });

  it('prints the benchmark options with bench --help', async () => {
    const { code, out } = await run(['bench', '--help']);
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/--concurrency 1,16,64,256,1024/);
  });

  it('refuses a bad benchmark number with exit code 2 and says what it takes', async () => {
    const { code, err } = await run(['bench', '--nodes', '3,12']);
    expect(code).toBe(2);
    expect(err.join('\n')).toBe("raftchart bench: --nodes takes a comma list of whole numbers from 1 to 9, got '12'.");
  });
});
