import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RaftchartError } from '../protocol/errors.ts';
import { formatAddress, parseAddress, parsePeers } from '../net/addresses.ts';
import { startServer } from '../net/serve.ts';
import type { TlsFiles } from '../net/tcp-transport.ts';
import type { CliIo } from './run-cli.ts';
import { asUsageError, UsageError, wholeNumber } from './sim-command.ts';

export const serveUsage = `raftchart serve: one Raft server in this process, its peers over TCP

  raftchart serve --id n1 --listen 127.0.0.1:7001
                  --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 --data-dir DIR
                  [--client-listen 127.0.0.1:8001] [--cluster NAME]
                  [--tls-cert FILE --tls-key FILE --tls-ca FILE]
                  [--election-timeout 1000-2000] [--heartbeat 100] [--no-fsync] [--quiet] [--seconds N]
                  [--snapshot-every 10000] [--snapshot-keep 1000] [--no-check-quorum] [--fault-injection]
                  [--until-stdin-closes]
--peers: every server of the cluster, this one included (its initial voters), as id=host:port.
--client-listen: where RaftClient and \`raftchart kv\` connect (host:port, or a Unix socket path).
--cluster: every server must name the same one (default raftchart); a peer of another is refused.
--tls-*: mutual TLS between servers: each server's certificate must name its id (subject CN or a
  DNS subject alternative name) and chain to the CA; any other peer is refused.
--fault-injection: clients may cut this server's links (what \`raftchart cluster --processes\` uses
  for its partition keys); never on a server you depend on.
prints "ready" once it serves; logs connections, refusals and role changes to stderr as JSON
lines (--quiet: none); SIGTERM or SIGINT (or --seconds N after N seconds) stop it cleanly: the log
synced, its folder lock released; so does the end of its stdin with --until-stdin-closes (how a
parent that starts it, like \`raftchart cluster --processes\`, takes it along when it dies). After a
SIGKILL, start it again on the same --data-dir.`;

/** `raftchart serve`: runs one server until SIGTERM/SIGINT; returns the exit code. */
export async function serveCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      id: { type: 'string' },
      listen: { type: 'string' },
      peers: { type: 'string' },
      'data-dir': { type: 'string' },
      'client-listen': { type: 'string' },
      cluster: { type: 'string', default: 'raftchart' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'election-timeout': { type: 'string', default: '1000-2000' },
      heartbeat: { type: 'string', default: '100' },
      'no-fsync': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      'fault-injection': { type: 'boolean', default: false },
      'no-check-quorum': { type: 'boolean', default: false },
      seconds: { type: 'string' },
      'until-stdin-closes': { type: 'boolean', default: false },
      'snapshot-every': { type: 'string', default: '10000' },
      'snapshot-keep': { type: 'string', default: '1000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    io.out(serveUsage);
    return 0;
  }
  for (const name of ['id', 'listen', 'peers', 'data-dir'] as const) if (values[name] === undefined) throw new UsageError(`--${name} is required (raftchart serve --help)`);
  const range = /^(\d+)-(\d+)$/.exec(values['election-timeout']);
  if (range === null) throw new UsageError(`--election-timeout must look like 1000-2000 (milliseconds, min-max), got '${values['election-timeout']}'`);
  const id = values.id as string;
  const seconds = values.seconds === undefined ? null : wholeNumber(values.seconds, 'seconds', 1, 2 ** 21);
  let server;
  try {
    const peers = parsePeers(values.peers as string);
    const listen = parseAddress(values.listen as string, '--listen') as { host: string; port: number };
    const clientListen = values['client-listen'] === undefined ? null : parseAddress(values['client-listen'], '--client-listen', true);
    server = await startServer({
      id,
      listen,
      peers,
      dataDir: values['data-dir'] as string,
      clientListen,
      clusterId: values.cluster,
      tls: tlsFiles(values['tls-cert'], values['tls-key'], values['tls-ca']),
      fsync: !values['no-fsync'],
      faultInjection: values['fault-injection'],
      config: {
        electionTimeoutMsMin: Number(range[1]),
        electionTimeoutMsMax: Number(range[2]),
        heartbeatIntervalMs: wholeNumber(values.heartbeat, 'heartbeat', 1, 60_000),
        snapshotEvery: wholeNumber(values['snapshot-every'], 'snapshot-every', 0, 2 ** 31),
        snapshotKeepEntries: wholeNumber(values['snapshot-keep'], 'snapshot-keep', 0, 2 ** 31),
        checkQuorum: !values['no-check-quorum'],
      },
      log: values.quiet ? undefined : (event) => io.err(JSON.stringify({ at: new Date().toISOString(), server: id, ...event })),
    });
  } catch (error) {
    throw asUsageError(error);
  }
  const clients = server.clientAddress === null ? 'no client port' : `clients on ${formatAddress(server.clientAddress)}`;
  io.out(`raftchart serve: ${id} ready, peers on ${values.listen?.replace(/:\d+$/, `:${server.port}`)}, ${clients}, data in ${values['data-dir']}`);
  await new Promise<void>((resolve) => {
    const timer = seconds === null ? null : setTimeout(() => stop(`--seconds ${seconds}`), seconds * 1000);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      if (timer !== null) clearTimeout(timer);
      // An open stdin would keep the process alive once stopped.
      if (values['until-stdin-closes']) process.stdin.destroy();
      io.out(`raftchart serve: ${id} stopping (${signal})`);
      void server.stop().then(resolve);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    if (values['until-stdin-closes']) {
      process.stdin.once('close', () => stop('stdin closed'));
      process.stdin.resume();
    }
  });
  io.out(`raftchart serve: ${id} stopped`);
  return 0;
}

function tlsFiles(cert: string | undefined, key: string | undefined, ca: string | undefined): TlsFiles | null {
  const given = [cert, key, ca].filter((file) => file !== undefined).length;
  if (given === 0) return null;
  if (given !== 3) throw new UsageError('TLS needs all three of --tls-cert, --tls-key and --tls-ca');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new RaftchartError('InvalidOptions', `cannot read ${what} ${file}: ${(error as Error).message}`);
    }
  };
  return { cert: read(cert as string, '--tls-cert'), key: read(key as string, '--tls-key'), ca: read(ca as string, '--tls-ca') };
}
