import { describe, expect, it } from 'vitest';
import { Outbox, outboxMessagesMax } from '../../src/core/outbox.ts';
import type { RaftMessage } from '../../src/protocol/messages.ts';

function reply(term: number): RaftMessage {
  return { type: 'rpc.requestVote.reply', from: 'n1', to: 'n2', term, voteGranted: true };
}

describe('Outbox: replies wait for the durable log (rule 1)', () => {
  it('releases, in order, exactly the replies whose seq is synced', () => {
    const outbox = new Outbox();
    outbox.hold(1, reply(1));
    outbox.hold(3, reply(2));
    outbox.hold(3, reply(3));
    outbox.hold(5, reply(4));
    expect(outbox.release(0)).toEqual([]);
    expect(outbox.release(3).map((m) => m.term)).toEqual([1, 2, 3]);
    expect(outbox.size).toBe(1);
    expect(outbox.release(9).map((m) => m.term)).toEqual([4]);
    expect(outbox.size).toBe(0);
  });

  it('refuses a reply held for an earlier seq than the last one (the chart asks in seq order)', () => {
    const outbox = new Outbox();
    outbox.hold(4, reply(1));
    expect(() => outbox.hold(3, reply(2))).toThrow(/held for seq 3 after one for 4/);
  });

  it(`asserts past ${outboxMessagesMax} replies waiting: a runaway, not a queue to grow`, () => {
    const outbox = new Outbox();
    for (let i = 0; i < outboxMessagesMax; i++) outbox.hold(1, reply(1));
    expect(() => outbox.hold(1, reply(1))).toThrow(/more than 65536 replies/);
  });
});
