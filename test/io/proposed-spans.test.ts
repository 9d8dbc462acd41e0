import { describe, expect, it } from 'vitest';
import { ProposedSpans } from '../../src/io/proposed-spans.ts';

describe('ProposedSpans: which applied entries someone may wait on', () => {
  it('covers nothing before any proposal', () => {
    expect(new ProposedSpans().take(1, 10)).toBeNull();
  });

  it('gives the part of an applied run that proposals cover, and forgets what is applied past', () => {
    const spans = new ProposedSpans();
    spans.add(5, 10); // 5..14
    expect(spans.take(1, 3)).toBeNull();
    expect(spans.take(4, 8)).toEqual({ from: 5, to: 8 });
    expect(spans.size).toBe(1);
    expect(spans.take(9, 14)).toEqual({ from: 9, to: 14 });
    expect(spans.size).toBe(0);
    expect(spans.take(15, 30)).toBeNull();
  });

  it('joins contiguous proposals into one span and keeps a gap as its own', () => {
    const spans = new ProposedSpans();
    spans.add(1, 2);
    spans.add(3, 2); // joins: 1..4
    spans.add(7, 1); // 7 (index 5 and 6: another leader's or a no-op)
    expect(spans.size).toBe(2);
    expect(spans.take(1, 10)).toEqual({ from: 1, to: 7 });
    expect(spans.size).toBe(0);
  });

  it('keeps an older span that a newer leadership re-proposed over (indexes reused after truncation)', () => {
    const spans = new ProposedSpans();
    spans.add(10, 11); // 10..20 in an old term
    spans.add(16, 10); // 16..25 after a truncation, a later term
    expect(spans.take(1, 12)).toEqual({ from: 10, to: 12 });
    expect(spans.take(13, 22)).toEqual({ from: 13, to: 22 });
    expect(spans.size).toBe(1);
    expect(spans.take(23, 23)).toEqual({ from: 23, to: 23 });
  });

  it('ignores an empty proposal', () => {
    const spans = new ProposedSpans();
    spans.add(3, 0);
    expect(spans.size).toBe(0);
  });
});
