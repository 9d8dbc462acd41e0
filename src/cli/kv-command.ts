import { parseArgs } from 'node:util';
import { RaftClient } from '../net/raft-client.ts';
import { hasErrorCode } from '../protocol/errors.ts';
import type { CliIo } from './run-cli.ts';
import { asUsageError, UsageError, wholeNumber } from './sim-command.ts';

export const kvUsage = `raftchart kv: the key-value store of a \`raftchart serve\` cluster, over the network

  raftchart kv set KEY VALUE --servers 127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003
  raftchart kv get KEY --servers …
  raftchart kv delete KEY --servers …
  raftchart kv status --servers …
--servers: the servers' client addresses (their --client-listen), comma-separated.
VALUE is parsed as JSON when it is JSON (42, "text", {"a":1}), else kept as a string.
get prints the value as JSON (null: none); set and delete print the value replaced.
--timeout-ms N: give up after N ms (default 10000): exit 1 with the error's code.`;

/** `raftchart kv`: one set, get, delete or status through RaftClient; returns the exit code. */
export async function kvCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { servers: { type: 'string' }, 'timeout-ms': { type: 'string', default: '10000' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    io.out(kvUsage);
    return 0;
  }
  const [verb, key, value, ...extra] = positionals;
  const arity: Record<string, number> = { set: 2, get: 1, delete: 1, status: 0 };
  if (verb === undefined || !(verb in arity)) throw new UsageError(`the first word is set, get, delete or status, got '${verb ?? ''}'`);
  const given = [key, value].filter((word) => word !== undefined).length;
  if (given !== arity[verb] || extra.length > 0) throw new UsageError(`${verb} takes ${arity[verb] === 2 ? 'KEY VALUE' : arity[verb] === 1 ? 'KEY' : 'no words'}`);
  if (values.servers === undefined) throw new UsageError('--servers is required: the servers\' client addresses, comma-separated');
  const servers = values.servers.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
  const timeoutMs = wholeNumber(values['timeout-ms'], 'timeout-ms', 1, 2 ** 31);
  let client: RaftClient;
  try {
    client = await RaftClient.connect({ servers, timeoutMs });
  } catch (error) {
    if (hasErrorCode(error, 'InvalidOptions')) throw asUsageError(error);
    return failed(error, io);
  }
  try {
    switch (verb) {
      case 'set':
        io.out(JSON.stringify((await client.set(key, parseValue(value))).previous));
        break;
      case 'delete':
        io.out(JSON.stringify((await client.delete(key)).previous));
        break;
      case 'get':
        io.out(JSON.stringify(await client.get(key)));
        break;
      default:
        for (const report of await client.status()) {
          const s = report.status;
          io.out(s === null ? `${report.address} ${report.error}` : `${report.serverId} ${report.address} ${s.role} term ${s.term} leader ${s.leaderId ?? '-'} commit ${s.commitIndex} applied ${s.lastApplied} log ${s.firstLogIndex}..${s.lastLogIndex} peers up ${report.transport?.connectedPeers.join(',') || '-'}`);
        }
    }
    return 0;
  } catch (error) {
    return failed(error, io);
  } finally {
    client.close();
  }
}

function failed(error: unknown, io: CliIo): number {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') throw error;
  io.err(`raftchart kv: ${code}: ${(error as Error).message}`);
  return 1;
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
