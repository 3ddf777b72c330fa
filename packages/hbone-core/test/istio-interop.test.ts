/**
 * Interop with Istio's own HBONE code (istio.io/istio/pkg/hbone, Go): its dialer as a client of
 * our HboneServer, and its server as the far end of our HbonePool, both over mutual TLS 1.3 with
 * certificates of one mesh CA. The Go side is tools/istio-hbone, built by the set-up
 * (`npm run setup`, scripts/setup/steps.mjs); without it this test is skipped, saying so.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '@mesh/pki/testing';
import { HbonePool, createHboneSecureContext, forwardTunnel, type IncomingTunnel } from '../src/index.js';
import { TEST_CLIENT_ID, TEST_SERVER_ID, missingToolReason, startEchoServer, startHbonePair, testToolPath, type EchoServer, type HboneTestPair } from '../src/testing/index.js';

const ISTIO_HBONE = testToolPath('istio-hbone');
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const REVIEWS = 'spiffe://cluster.local/ns/default/sa/reviews';

describe.skipIf(!ISTIO_HBONE)(`Istio's HBONE code (istio.io/istio/pkg/hbone) and ours${ISTIO_HBONE ? '' : ` (skipped: ${missingToolReason('istio-hbone')})`}`, () => {
  const ca = createTestCa();
  let dir: string;
  let echo: EchoServer;
  const files = (name: string) => ({ cert: join(dir, `${name}-chain.pem`), key: join(dir, `${name}-key.pem`), root: join(dir, 'root.pem') });
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'istio-interop-'));
    echo = await startEchoServer();
    await writeFile(join(dir, 'root.pem'), ca.rootPem);
    for (const [name, id] of [['client', TEST_CLIENT_ID], ['server', TEST_SERVER_ID]] as const) {
      const issued = ca.issue(id);
      await writeFile(files(name).cert, issued.chainPem);
      await writeFile(files(name).key, issued.keyPem);
    }
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await echo?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("Istio's dialer tunnels through our HboneServer: bytes echo, we see its identity and its CONNECT", async () => {
    const seen: IncomingTunnel[] = [];
    const pair: HboneTestPair = await startHbonePair({
      ca,
      onTunnel: (t) => {
        seen.push(t);
        void forwardTunnel(t);
      },
    });
    try {
      const f = files('client');
      const message = 'bytes from Istio, through ours, and back';
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(ISTIO_HBONE!, ['client', '-addr', pair.destination, '-target', `127.0.0.1:${echo.port}`, '-cert', f.cert, '-key', f.key, '-root', f.root, '-message', message], { timeout: 20_000 }, (err, out, errOut) =>
          err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
        ),
      );
      expect(stdout.split('\n--- echoed ---\n')[1]).toBe(message);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ peerIdentity: SLEEP, authority: `127.0.0.1:${echo.port}` });
    } finally {
      await pair.close();
    }
  });

  it("our pool tunnels through Istio's server: bytes echo, and its certificate's identity is checked", async () => {
    const f = files('server');
    const server = spawn(ISTIO_HBONE!, ['server', '-addr', '127.0.0.1:0', '-cert', f.cert, '-key', f.key, '-root', f.root], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(server);
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      server.once('exit', (code) => reject(new Error(`istio-hbone server exited (${code})`)));
    });
    const client = ca.issue(TEST_CLIENT_ID);
    const context = createHboneSecureContext({ keyPem: client.keyPem, certChainPem: client.chainPem, rootCertPem: ca.rootPem });
    const pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => context });
    try {
      const stream = await pool.open({ sourceIdentity: SLEEP, destination: `127.0.0.1:${port}`, expectedIdentities: [REVIEWS], authority: `127.0.0.1:${echo.port}` });
      stream.write('bytes from us, through Istio, and back');
      const echoed = await new Promise<string>((resolve) => {
        let text = '';
        stream.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.length >= 'bytes from us, through Istio, and back'.length) resolve(text);
        });
      });
      expect(echoed).toBe('bytes from us, through Istio, and back');
      stream.destroy();
      const wrong = await pool
        .open({ sourceIdentity: SLEEP, destination: `127.0.0.1:${port}`, expectedIdentities: ['spiffe://cluster.local/ns/default/sa/ratings'], authority: `127.0.0.1:${echo.port}` })
        .catch((e: unknown) => e);
      expect(String(wrong)).toContain('presented spiffe://cluster.local/ns/default/sa/reviews');
    } finally {
      pool.destroy();
    }
  });
});
