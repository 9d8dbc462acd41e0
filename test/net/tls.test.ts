import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/net/frames.ts';
import type { TlsFiles } from '../../src/net/tcp-transport.ts';
import { startTcpCluster, untilEvent, type TcpCluster } from './tcp-cluster.ts';

/** A CA and a certificate per name (CN and DNS SAN = the name), made with openssl in `dir`. */
function makeCertificates(dir: string, caName: string, names: readonly string[]): { ca: Buffer; files: Map<string, TlsFiles> } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', `${caName}.key`, '-out', `${caName}.crt`, '-days', '2', '-subj', `/CN=${caName}`);
  const files = new Map<string, TlsFiles>();
  for (const name of names) {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${name}\n`);
    run('req', ...ec, '-keyout', `${caName}-${name}.key`, '-out', `${caName}-${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${caName}-${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${caName}-${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
    files.set(name, { cert: readFileSync(join(dir, `${caName}-${name}.crt`)), key: readFileSync(join(dir, `${caName}-${name}.key`)), ca: readFileSync(join(dir, `${caName}.crt`)) });
  }
  return { ca: readFileSync(join(dir, `${caName}.crt`)), files };
}

/** A TLS connection to n3's peer port with `files`, saying hello as `from`; resolves once it closed (or after 3 s). */
async function dialAs(port: number, files: TlsFiles, from: string): Promise<boolean> {
  const socket = tlsConnect({ host: '127.0.0.1', port, cert: files.cert, key: files.key, ca: files.ca, checkServerIdentity: () => undefined });
  socket.on('error', () => undefined);
  // Read what comes (the refusal), so that the end of the stream is seen.
  socket.resume();
  socket.once('secureConnect', () => socket.write(encodeFrame({ t: 'hello', magic: 'raftchart', version: 1, cluster: 'raftchart', from, to: 'n3' })));
  const closed = await Promise.race([new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))), sleep(3000).then(() => false)]);
  socket.destroy();
  return closed;
}

describe('mutual TLS between serve servers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftchart-tls-'));
  const ours = makeCertificates(dir, 'ca', ['n1', 'n2', 'n3']);
  const theirs = makeCertificates(dir, 'other-ca', ['n1']);
  let cluster: TcpCluster;
  beforeAll(async () => {
    cluster = await startTcpCluster((id) => ({ tls: ours.files.get(id) }));
  });
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('elects and commits over TLS', async () => {
    for (let i = 0; i < 5; i++) await cluster.client.set(`t${i}`, i);
    expect(await cluster.client.get('t4')).toBe(4);
    expect((await cluster.client.status()).every((report) => report.transport?.connectedPeers.length === 2)).toBe(true);
  });

  it('refuses a peer whose certificate names another server, or chains to another CA', async () => {
    const n3 = cluster.peerPorts[2];
    // n2's own certificate, with a hello in n1's name.
    expect(await dialAs(n3, ours.files.get('n2') as TlsFiles, 'n1')).toBe(true);
    const mismatch = await untilEvent(cluster, ({ server, event }) => server === 'n3' && event.code === 'CertificateMismatch');
    expect(String(mismatch.event.message)).toContain('not server n1');
    // A certificate for n1 from a CA the cluster does not trust: refused in the TLS handshake.
    expect(await dialAs(n3, theirs.files.get('n1') as TlsFiles, 'n1')).toBe(true);
    await untilEvent(cluster, ({ server, event }) => server === 'n3' && event.code === 'CertificateMismatch' && String(event.message).startsWith('TLS refused'));
    await cluster.client.set('after-rogues', 1);
    expect(await cluster.client.get('after-rogues')).toBe(1);
  });
});
