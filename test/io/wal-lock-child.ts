/**
 * Run by wal-lock.test.ts as a child process that holds a log folder until it is killed:
 *
 *   node --import tsx test/io/wal-lock-child.ts <folder>
 *
 * Opens the log (taking its lock), prints `ready <pid>`, and waits. It never closes the log: the
 * test kills it with SIGKILL, as a crash would, so its LOCK stays behind.
 */
import { RealFileSystem } from '../../src/io/real-file-system.ts';
import { openWal } from '../../src/io/wal.ts';

/** The child ends by itself after this long, should nobody kill it (a test runner that died). */
const lifetimeMsMax = 60_000;

const [dir] = process.argv.slice(2);
await openWal(new RealFileSystem(), dir);
process.stdout.write(`ready ${process.pid}\n`);
setTimeout(() => process.exit(3), lifetimeMsMax);
