import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import tls from 'node:tls';
import { hasCode } from '@mesh/errors';
import { identityFromCertificate, spiffeServerIdentityCheck } from '@mesh/pki';
import type { SpiffeId } from '@mesh/pki';
import { createTestCa } from '@mesh/pki/testing';
import type { TestCa } from '@mesh/pki/testing';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const sleep: SpiffeId = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' };
const httpbin: SpiffeId = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'httpbin' };

let mesh: TestCa;
let otherMesh: TestCa;
const servers: tls.Server[] = [];

beforeAll(() => {
  mesh = createTestCa();
  otherMesh = createTestCa();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

interface TestServer {
  port: number;
  /** Identities of the clients the server accepted. */
  peers: SpiffeId[];
  /** Why the server refused client certificates: OpenSSL verify codes such as CERT_HAS_EXPIRED. */
  refusals: string[];
}

/** A TLS 1.3 server with the httpbin SVID that requires a client certificate from the mesh root. */
async function startServer(): Promise<TestServer> {
  const peers: SpiffeId[] = [];
  const refusals: string[] = [];
  const { keyPem, chainPem } = mesh.issue(httpbin);
  const server = tls.createServer(
    { key: keyPem, cert: chainPem, ca: mesh.rootPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (socket) => {
      const peer = socket.getPeerX509Certificate();
      if (peer) peers.push(identityFromCertificate(peer));
      socket.end('hello');
    },
  );
  // Node destroys a connection whose client certificate fails verification after the handshake
  // and reports only "socket hang up"; the reason is the socket's authorizationError.
  server.on('tlsClientError', (err, socket) => refusals.push(String(socket.authorizationError ?? err.message)));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, peers, refusals };
}

/** Connects as `client`, checking the server's SPIFFE ID instead of a host name (there is none for 127.0.0.1). */
function connect(
  port: number,
  client: { keyPem: string; chainPem: string },
  expectedServer: SpiffeId,
): Promise<{ socket: tls.TLSSocket; data: string; error?: Error }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      key: client.keyPem,
      cert: client.chainPem,
      ca: mesh.rootPem,
      minVersion: 'TLSv1.3',
      checkServerIdentity: spiffeServerIdentityCheck([expectedServer]),
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve({ socket, data }));
    // In TLS 1.3 the client finishes its handshake before the server has judged the client
    // certificate, so a refusal shows up afterwards as an alert (error) or a bare close.
    socket.on('error', (error) => resolve({ socket, data, error }));
    socket.on('close', () => resolve({ socket, data }));
  });
}

describe('certificates in a real TLS 1.3 mutual handshake', () => {
  it('authenticates both sides by SPIFFE ID', async () => {
    const server = await startServer();
    const { socket, data, error } = await connect(server.port, mesh.issue(sleep), httpbin);

    expect(error).toBeUndefined();
    expect(data).toBe('hello');
    expect(socket.getProtocol()).toBe('TLSv1.3');
    expect(socket.getPeerX509Certificate()?.subjectAltName).toBe('URI:spiffe://cluster.local/ns/default/sa/httpbin');
    expect(server.peers).toEqual([sleep]);
  });

  it('rejects a client whose certificate comes from another root', async () => {
    const server = await startServer();
    const { data } = await connect(server.port, otherMesh.issue(sleep), httpbin);
    expect(data).toBe('');
    expect(server.peers).toEqual([]);
    // The client sends its own (foreign) root along with the leaf, so OpenSSL sees a self-signed root it does not trust.
    expect(server.refusals).toEqual(['SELF_SIGNED_CERT_IN_CHAIN']);
  });

  it('rejects an expired client certificate', async () => {
    const server = await startServer();
    const expired = mesh.issue(sleep, { notBefore: new Date(Date.now() - 2 * 3600_000), ttlMs: 3600_000 });
    const { data } = await connect(server.port, expired, httpbin);
    expect(data).toBe('');
    expect(server.refusals).toEqual(['CERT_HAS_EXPIRED']);
  });

  it('lets the client refuse a server with an unexpected identity', async () => {
    const server = await startServer();
    const { data, error } = await connect(server.port, mesh.issue(sleep), sleep);
    expect(data).toBe('');
    expect(hasCode(error, 'PKI_ERR_PEER_IDENTITY_MISMATCH')).toBe(true);
    expect(error?.message).toContain('spiffe://cluster.local/ns/default/sa/httpbin');
  });
});
