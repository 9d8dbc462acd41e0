import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { Inspector } from '../../src/inspect/inspector-server.ts';
import { hasErrorCode } from '../../src/protocol/errors.ts';
import { ClusterPool, commit, waitFor } from '../cluster/harness.ts';

const pool = new ClusterPool();
const inspectors: Inspector[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const socket of sockets.splice(0)) socket.terminate();
  await Promise.all(inspectors.splice(0).map((inspector) => inspector.close()));
  await pool.stopAll();
});

async function startInspected(): Promise<{ cluster: LocalCluster; inspector: Inspector }> {
  const { cluster } = await pool.start({ nodes: 3, fsync: false });
  const inspector = await Inspector.start(cluster);
  inspectors.push(inspector);
  return { cluster, inspector };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(inspector: Inspector, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: inspector.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket to the inspector: resolves open, or rejects with the HTTP status of the refusal. */
function openSocket(inspector: Inspector, origin: string | undefined): Promise<{ socket: WebSocket; messages: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${inspector.port}/live`, origin === undefined ? {} : { origin });
    sockets.push(socket);
    const messages: Record<string, unknown>[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    socket.on('open', () => resolve({ socket, messages }));
    socket.on('unexpected-response', (_, response) => reject(new Error(`refused ${response.statusCode}`)));
    socket.on('error', reject);
  });
}

function ownOrigin(inspector: Inspector): string {
  return `http://127.0.0.1:${inspector.port}`;
}

describe('Inspector server: who may talk to it', () => {
  it('serves the page with a strict Content-Security-Policy and no inline script or style', async () => {
    const { inspector } = await startInspected();
    const page = await get(inspector, '/');
    expect(page.status).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(page.body).not.toMatch(/\sstyle=|<style/);
    expect(page.body).toContain('data-node-id');
    const script = await get(inspector, '/inspector.js');
    expect(script.headers['content-type']).toContain('text/javascript');
    expect(script.body).not.toMatch(/\beval\(|new Function\(/);
    expect((await get(inspector, '/charts/raft-server.svg')).body).toContain('data-state-path="leader.replicating"');
    expect((await get(inspector, '/nothing-here')).status).toBe(404);
  });

  it('refuses requests from another Origin or for another Host, and every method but GET and HEAD', async () => {
    const { inspector } = await startInspected();
    expect((await get(inspector, '/', { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(inspector, '/', { Host: `evil.example:${inspector.port}` })).status).toBe(403);
    expect((await get(inspector, '/', { Origin: 'http://evil.example' }, 'POST')).status).toBe(403);
    expect((await get(inspector, '/', { Origin: ownOrigin(inspector) }, 'POST')).status).toBe(405);
    expect((await get(inspector, '/', { Origin: ownOrigin(inspector) })).status).toBe(200);
    expect((await get(inspector, '/', { Host: `localhost:${inspector.port}` })).status).toBe(200);
  });

  it('refuses a WebSocket from another Origin or with none, and accepts the page own', async () => {
    const { inspector } = await startInspected();
    await expect(openSocket(inspector, 'http://evil.example')).rejects.toThrow('refused 403');
    await expect(openSocket(inspector, `http://127.0.0.1:${inspector.port + 1}`)).rejects.toThrow('refused 403');
    await expect(openSocket(inspector, undefined)).rejects.toThrow('refused 403');
    const { messages } = await openSocket(inspector, ownOrigin(inspector));
    await waitFor('hello and an update', () => messages.some((m) => m.type === 'update'));
    expect(messages[0]).toMatchObject({ type: 'hello', nodeIds: ['n1', 'n2', 'n3'] });
  });
});

describe('Inspector server: where it listens', () => {
  it('falls back to a free port when asked and its port is taken, and refuses bad options', async () => {
    const { cluster, inspector } = await startInspected();
    const fallback = await Inspector.start(cluster, { port: inspector.port, portFallback: true });
    inspectors.push(fallback);
    expect(fallback.port).not.toBe(inspector.port);
    expect(fallback.url).toBe(`http://127.0.0.1:${fallback.port}/`);
    await expect(Inspector.start(cluster, { port: inspector.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(Inspector.start(cluster, { port: 70_000 })).rejects.toSatisfy((error) => hasErrorCode(error, 'InvalidOptions'));
    await expect(Inspector.start(cluster, { updatesPerSecMax: 0 })).rejects.toSatisfy((error) => hasErrorCode(error, 'InvalidOptions'));
    await expect(Inspector.start(cluster, { updatesPerSecBusy: 31 })).rejects.toSatisfy((error) => hasErrorCode(error, 'InvalidOptions'));
  });
});

describe('Inspector server: commands from the page', () => {
  it('answers a bad command with an error code on the socket, and the cluster keeps running', async () => {
    const { cluster, inspector } = await startInspected();
    const { socket, messages } = await openSocket(inspector, ownOrigin(inspector));
    const ask = async (text: string, id: number) => {
      socket.send(text);
      return waitFor(`the reply to ${text}`, () => messages.find((m) => m.type === 'reply' && m.id === id));
    };
    expect(await ask(JSON.stringify({ id: 1, command: 'crash', node: 'n9' }), 1)).toMatchObject({ ok: false, code: 'UnknownNode' });
    expect(await ask(JSON.stringify({ id: 2, command: 'format-disk' }), 2)).toMatchObject({ ok: false, code: 'InvalidCommand' });
    expect(await ask(JSON.stringify({ id: 3, command: 'propose', count: 0 }), 3)).toMatchObject({ ok: false, code: 'InvalidCommand' });
    expect(await ask(JSON.stringify({ id: 4, command: 'partition', groups: 'n1' }), 4)).toMatchObject({ ok: false, code: 'InvalidCommand' });
    expect(await ask(JSON.stringify({ id: 5, command: 'partition', groups: [['n1'], ['n1', 'n2']] }), 5)).toMatchObject({ ok: false, code: 'InvalidOptions' });
    expect(await ask(JSON.stringify({ id: 6, command: 'setReliable', reliable: 'yes' }), 6)).toMatchObject({ ok: false, code: 'InvalidCommand' });
    socket.send('{not json');
    expect(await waitFor('the reply to bad JSON', () => messages.find((m) => m.type === 'reply' && m.id === null))).toMatchObject({ ok: false, code: 'InvalidCommand' });
    expect(await ask(JSON.stringify({ id: 7, command: 'heal' }), 7)).toMatchObject({ ok: true });
    // No diskFaults in this cluster: the page may not break a disk, and says how to.
    expect(await ask(JSON.stringify({ id: 8, command: 'failDisk', node: 'n1' }), 8)).toMatchObject({ ok: false, code: 'InvalidOptions', message: expect.stringMatching(/diskFaults: true/) });
    expect(messages.find((m) => m.type === 'hello')).toMatchObject({ diskFaults: false });
    expect((await commit(cluster, new TextEncoder().encode('still running'))).index).toBeGreaterThan(0);
    expect(cluster.workerErrors).toEqual([]);
  });

  it('pauses and resumes the bus, and proposes on the leader', async () => {
    const { cluster, inspector } = await startInspected();
    await commit(cluster, new TextEncoder().encode('a leader'));
    const { socket, messages } = await openSocket(inspector, ownOrigin(inspector));
    socket.send(JSON.stringify({ id: 1, command: 'pause' }));
    await waitFor('a paused update', () => messages.some((m) => m.type === 'update' && (m.network as { paused: boolean }).paused));
    expect(cluster.network.isPaused()).toBe(true);
    socket.send(JSON.stringify({ id: 2, command: 'resume' }));
    await waitFor('resumed', () => messages.some((m) => m.type === 'reply' && m.id === 2));
    expect(cluster.network.isPaused()).toBe(false);
    // Each update names the leader it found, so the page need not work it out.
    const named = await waitFor('an update naming a leader', () => messages.find((m) => m.type === 'update' && m.leader !== null));
    const nodes = named.nodes as { id: string; role: string; term: number; alive: boolean }[];
    const highestTerm = Math.max(...nodes.filter((n) => n.alive).map((n) => n.term));
    expect(nodes.find((n) => n.id === named.leader)).toMatchObject({ role: 'leader', term: highestTerm });
    const proposed = await waitFor('a proposal accepted', async () => {
      const id = messages.length + 100;
      socket.send(JSON.stringify({ id, command: 'propose', count: 5 }));
      const reply = await waitFor('the reply', () => messages.find((m) => m.type === 'reply' && m.id === id));
      return reply.ok === true ? reply : undefined;
    });
    expect(String(proposed.text)).toMatch(/appended 5 of 5/);
  });
});

describe('Inspector server: membership changes from the page (dissertation ch. 4)', () => {
  type NodeSeen = { id: string; voters: string[]; learners: string[] };
  type UpdateSeen = { type: 'update'; leader: string | null; nodes: NodeSeen[]; network: { reachable: Record<string, string[]> } };
  const updatesAfter = (messages: Record<string, unknown>[], from: number) => messages.slice(from).filter((m): m is UpdateSeen => m.type === 'update');
  const leaderView = (update: UpdateSeen) => update.nodes.find((n) => n.id === update.leader);

  it('adds a learner under the next free id, promotes it and removes a server; the feed follows the servers and their configurations', { timeout: 120_000 }, async () => {
    const { cluster, inspector } = await startInspected();
    await commit(cluster, new TextEncoder().encode('a leader'));
    const { socket, messages } = await openSocket(inspector, ownOrigin(inspector));
    let nextId = 1;
    const ask = async (request: Record<string, unknown>) => {
      const id = nextId++;
      socket.send(JSON.stringify({ id, ...request }));
      return waitFor(`the reply to ${JSON.stringify(request)}`, () => messages.find((m) => m.type === 'reply' && m.id === id), 30_000);
    };

    expect(await ask({ command: 'promote' })).toMatchObject({ ok: false, code: 'InvalidCommand' });
    expect(await ask({ command: 'addLearner', node: 7 })).toMatchObject({ ok: false, code: 'InvalidCommand' });
    expect(await ask({ command: 'addLearner', node: 'n2' })).toMatchObject({ ok: false, code: 'InvalidOptions' });
    expect(await ask({ command: 'remove', node: 'n9' })).toMatchObject({ ok: false, code: 'UnknownNode' });

    let seen = messages.length;
    expect(await ask({ command: 'addLearner' })).toMatchObject({ ok: true, text: expect.stringMatching(/^n4 added as a learner \(entry \d+\): voters: n1 n2 n3 · learners: n4$/) });
    const added = await waitFor('an update with n4 a learner on the leader', () =>
      updatesAfter(messages, seen).find((u) => u.nodes.some((n) => n.id === 'n4') && leaderView(u)?.learners.includes('n4')),
    );
    expect(added.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(leaderView(added)?.voters).toEqual(['n1', 'n2', 'n3']);
    expect(Object.keys(added.network.reachable)).toEqual(['n1', 'n2', 'n3', 'n4']);

    // A learner is promoted once it holds what the leader held a heartbeat round ago: ask until then.
    const promoted = await waitFor('n4 promoted', async () => {
      const reply = await ask({ command: 'promote', node: 'n4' });
      if (reply.ok === true) return reply;
      expect(reply.code).toBe('LearnerNotCaughtUp');
      return undefined;
    }, 30_000);
    expect(promoted.text).toMatch(/^n4 promoted to voter \(entry \d+\): voters: n1 n2 n3 n4$/);
    seen = messages.length;
    await waitFor('every server to see n4 vote', () => updatesAfter(messages, seen).find((u) => u.nodes.every((n) => n.voters.length === 4 && n.learners.length === 0)), 15_000);

    seen = messages.length;
    expect(await ask({ command: 'remove', node: 'n1' })).toMatchObject({ ok: true, text: expect.stringMatching(/^n1 removed and stopped \(entry \d+\): voters: n2 n3 n4$/) });
    const removed = await waitFor('an update without n1', () => updatesAfter(messages, seen).find((u) => !u.nodes.some((n) => n.id === 'n1')));
    expect(removed.nodes.map((n) => n.id)).toEqual(['n2', 'n3', 'n4']);
    expect(Object.keys(removed.network.reachable)).toEqual(['n2', 'n3', 'n4']);
    expect(await ask({ command: 'remove', node: 'n1' })).toMatchObject({ ok: false, code: 'UnknownNode' });

    // n5 comes and goes behind the inspector's back: the cluster refuses it again, and the next id is taken.
    await cluster.addLearner('n5');
    await cluster.removeServer('n5');
    expect(await ask({ command: 'addLearner' })).toMatchObject({ ok: true, text: expect.stringMatching(/^n6 added as a learner .*learners: n6$/) });
    seen = messages.length;
    await waitFor('an update with n6', () => updatesAfter(messages, seen).find((u) => u.nodes.map((n) => n.id).join() === 'n2,n3,n4,n6'));
    expect(cluster.workerErrors).toEqual([]);
  });
});

describe('Inspector server: cost when nobody watches', () => {
  it('asks the workers nothing while no page is connected', async () => {
    const { cluster, inspector } = await startInspected();
    let inspections = 0;
    const inspect = cluster.inspect.bind(cluster);
    cluster.inspect = (...args) => {
      inspections++;
      return inspect(...args);
    };
    await sleep(300);
    expect(inspections).toBe(0);
    const { socket, messages } = await openSocket(inspector, ownOrigin(inspector));
    await waitFor('two updates', () => messages.filter((m) => m.type === 'update').length >= 2);
    expect(inspections).toBeGreaterThan(0);
    socket.close();
    await waitFor('the page gone', () => inspector.clients === 0);
    await sleep(150);
    const after = inspections;
    await sleep(300);
    expect(inspections).toBe(after);
  });
});

describe('Inspector server: pace', () => {
  type Update = { type: 'update'; pace: { updatesPerSec: number; busy: boolean } };
  const updatesIn = (messages: Record<string, unknown>[]) => messages.filter((m): m is Update => m.type === 'update');

  it('updates the page at updatesPerSecMax while the process is quiet and at updatesPerSecBusy while it uses most of the cores', async () => {
    const { cluster } = await pool.start({ nodes: 3, fsync: false });
    const inspector = await Inspector.start(cluster, { updatesPerSecMax: 10, updatesPerSecBusy: 1 });
    inspectors.push(inspector);
    const { messages } = await openSocket(inspector, ownOrigin(inspector));
    await waitFor('quiet updates', () => updatesIn(messages).length >= 3);
    expect(updatesIn(messages)[2].pace).toMatchObject({ updatesPerSec: 10, busy: false });
    // Every core busy from now on, as this process reports it.
    const started = { wallMs: performance.now(), cpu: process.cpuUsage() };
    vi.spyOn(process, 'cpuUsage').mockImplementation(() => {
      const busyMicros = (performance.now() - started.wallMs) * 1000 * availableParallelism();
      return { user: started.cpu.user + busyMicros, system: started.cpu.system };
    });
    const arrivals: number[] = [];
    const seen = updatesIn(messages).length;
    await waitFor('three busy updates', () => {
      const busy = updatesIn(messages).slice(seen).filter((update) => update.pace.busy);
      if (busy.length > arrivals.length) arrivals.push(performance.now());
      return busy.length >= 3 ? busy : undefined;
    }, 10_000);
    expect(updatesIn(messages).slice(seen).find((update) => update.pace.busy)?.pace.updatesPerSec).toBe(1);
    // About a second apart (not 100 ms): at most a few quiet ones came between.
    expect(arrivals[2] - arrivals[1]).toBeGreaterThan(600);
    vi.restoreAllMocks();
    const quietFrom = updatesIn(messages).length;
    await waitFor('quiet again', () => updatesIn(messages).slice(quietFrom).some((update) => !update.pace.busy));
  });
});
