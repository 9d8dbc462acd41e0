// An app that installed the raftchart tarball: plain JavaScript, no loader. It starts a 3-server
// LocalCluster from dist/, commits a command, reads it back, fetches the inspector's page, stops;
// then three serve processes over TCP through RaftClient.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Inspector, LocalCluster, ProcessCluster, encodeKeyValueCommand, hasErrorCode, leaderOf } from 'raftchart';

/** A read may meet an election (NotLeader): look the leader up again, this many times at most. */
const readAttemptsMax = 20;

const entry = fileURLToPath(import.meta.resolve('raftchart'));
assert.match(entry, /node_modules\/raftchart\/dist\/src\/index\.js$/, `raftchart resolved to ${entry}, not its dist/`);
assert.ok(!existsSync('node_modules/tsx'), 'tsx was installed with the package: it must be a devDependency');

const started = performance.now();
const cluster = await LocalCluster.start({ nodes: 3 });
console.log(`LocalCluster.start({ nodes: 3 }): ${(performance.now() - started).toFixed(0)} ms`);
try {
  const session = await cluster.session();
  const { index } = await session.propose(encodeKeyValueCommand({ op: 'set', key: 'greeting', value: 'hello' }));
  const read = await readBack(encodeKeyValueCommand({ op: 'get', key: 'greeting' }));
  assert.deepEqual(read.result, { ok: true, value: 'hello' });
  console.log(`committed at index ${index}, read back ${JSON.stringify(read.result)}`);

  const inspector = await Inspector.start(cluster, { port: 0 });
  try {
    const page = await fetch(inspector.url);
    assert.equal(page.status, 200, 'the inspector page was not served: is src/inspect/page/ in dist/?');
    assert.match(await page.text(), /<html/i);
  } finally {
    await inspector.close();
  }
} finally {
  await cluster.stop();
}
// Three `raftchart serve` processes started from the package's launcher (dist/), over TCP.
const processes = await ProcessCluster.start({ processes: 3, electionTimeoutMs: [300, 600], heartbeatIntervalMs: 50 });
try {
  await processes.client.set('over-tcp', 42);
  assert.equal(await processes.client.get('over-tcp'), 42);
  console.log(`serve processes: set and read back over TCP at ${processes.clientAddresses.join(',')}`);
} finally {
  await processes.stop();
}
console.log('consumer: ok');

async function readBack(query) {
  for (let attempt = 1; attempt <= readAttemptsMax; attempt++) {
    const leader = leaderOf(await Promise.all(cluster.nodeIds.map((id) => cluster.status(id))));
    if (leader !== undefined) {
      try {
        return await cluster.read(leader.id, query);
      } catch (error) {
        if (!hasErrorCode(error, 'NotLeader')) throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no leader answered the read in ${readAttemptsMax} attempts`);
}
