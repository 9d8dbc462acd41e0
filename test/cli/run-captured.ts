import { runCli } from '../../src/cli/run-cli.ts';

/** Runs the `raftchart` command in this process; its output lines and exit code. */
export async function runCaptured(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}
