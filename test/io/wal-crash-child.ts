/**
 * Run by wal-crash.test.ts as a child process, to be killed with SIGKILL at a random moment:
 *
 *   node --import tsx test/io/wal-crash-child.ts <folder> <seed>
 *
 * Opens the log (taking over the dead predecessor's stale lock), then appends and syncs batches
 * as fast as it can. After each sync resolves it prints `acked <lastIndex> <term>`: only then is
 * the batch acknowledged. Every entry's command is crashCommand(index), so the parent can check
 * every byte. Every fifth batch first writes junk entries and truncates them away in the same
 * write, so recovery must replay truncations from real files too.
 */
import { Random } from '../../src/core/random.ts';
import { RealFileSystem } from '../../src/io/real-file-system.ts';
import { openWal } from '../../src/io/wal.ts';
import type { LogRecord } from '../../src/protocol/records.ts';
import type { Entry } from '../../src/protocol/types.ts';
import { crashCommand, junkCommand } from './crash-commands.ts';

/** The child stops by itself after this many batches, should nobody kill it. */
const batchesMax = 1_000_000;
/** Small segments, so kills also land around segment rolls. */
const segmentBytesMax = 16 * 1024;

async function main(): Promise<void> {
  const [dir, seedText] = process.argv.slice(2);
  const random = new Random(Number(seedText), 'crash-child');
  const { wal, recovered } = await openWal(new RealFileSystem(), dir, { segmentBytesMax });
  let lastIndex = recovered.entries.length;
  const term = recovered.hardState.term + 1;
  process.stdout.write(`ready ${lastIndex}\n`);
  for (let batch = 0; batch < batchesMax; batch++) {
    const records: LogRecord[] = [{ type: 'hardState', hardState: { term, votedFor: 'n1' } }];
    if (batch % 5 === 4) {
      records.push({ type: 'entries', entries: [{ index: lastIndex + 1, term, kind: 'command', command: junkCommand(lastIndex + 1) }] });
      records.push({ type: 'truncate', fromIndex: lastIndex + 1 });
    }
    const list: Entry[] = [];
    const count = random.int(1, 24);
    for (let i = 1; i <= count; i++) list.push({ index: lastIndex + i, term, kind: 'command', command: crashCommand(lastIndex + i) });
    records.push({ type: 'entries', entries: list });
    await wal.write(records);
    await wal.sync();
    lastIndex += count;
    process.stdout.write(`acked ${lastIndex} ${term}\n`);
  }
  await wal.close();
}

await main();
