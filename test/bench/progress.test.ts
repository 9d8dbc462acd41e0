import { describe, expect, it } from 'vitest';
import { formatDuration, Progress, progressBar } from '../../bench/progress.ts';

describe('progress', () => {
  it('draws a bar of done over total', () => {
    expect(progressBar(6, 24)).toBe('[######..................]  6/24');
    expect(progressBar(0, 0)).toBe('[########################] 0/0');
    expect(formatDuration(75_000)).toBe('1m15s');
    expect(formatDuration(42_400)).toBe('42s');
  });

  it('redraws one line on a terminal and prints a line per step elsewhere', () => {
    const written: string[] = [];
    const tty = new Progress(2, { isTTY: true, write: (text: string) => written.push(text) });
    tty.start('a');
    tty.step();
    tty.finish();
    expect(written[0]).toBe('\r\x1b[2K[........................] 0/2 a');
    expect(written.at(-1)).toBe('\r\x1b[2K');
    const lines: string[] = [];
    const plain = new Progress(2, { write: (text: string) => lines.push(text) });
    plain.start('a');
    plain.finish();
    expect(lines).toEqual(['[........................] 0/2 a\n']);
  });
});
