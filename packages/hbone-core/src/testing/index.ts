/**
 * Fixtures for tests and benchmarks (`@mesh/hbone-core/testing`): a TCP echo server and a
 * complete loopback HBONE pair (server that forwards tunnels to their authority + client pool),
 * with certificates from a throw-away CA.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createSecureContext } from 'node:tls';
import { spiffeUri, type SpiffeId } from '@mesh/pki';
import { createTestCa, type TestCa } from '@mesh/pki/testing';
import { forwardTunnel } from '../forward.js';
import { HbonePool, type HbonePoolOptions } from '../pool.js';
import { HboneServer, type HboneServerOptions, type IncomingTunnel } from '../server.js';
import { createHboneSecureContext } from '../tls.js';

export interface EchoServer {
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** TCP echo on 127.0.0.1 that keeps half-closed connections open until it echoed everything. */
export async function startEchoServer(host = '127.0.0.1'): Promise<EchoServer> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const TEST_CLIENT_ID: SpiffeId = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' };
export const TEST_SERVER_ID: SpiffeId = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'reviews' };

export interface HboneTestPair {
  ca: TestCa;
  server: HboneServer;
  pool: HbonePool;
  /** `127.0.0.1:<port>` of the server. */
  destination: string;
  clientIdentity: string;
  serverIdentity: string;
  close(): Promise<void>;
}

/** A key and chain, plus the root the holder trusts (default: the pair's CA). */
export interface TestCredentials {
  keyPem: string;
  chainPem: string;
  rootPem?: string;
}

export interface HboneTestPairOptions {
  ca?: TestCa;
  /** Decide tunnels yourself; default forwards every tunnel to its authority. */
  onTunnel?: (tunnel: IncomingTunnel) => void;
  /** Credentials the server presents (default: a valid SVID for TEST_SERVER_ID). */
  serverCert?: TestCredentials;
  /** Credentials the client presents (default: a valid SVID for TEST_CLIENT_ID). */
  clientCert?: TestCredentials | 'none';
  protocol?: HboneServerOptions['protocol'];
  pool?: Partial<HbonePoolOptions>;
}

/** Starts an HBONE server on 127.0.0.1 and a pool that trusts it. */
export async function startHbonePair(options: HboneTestPairOptions = {}): Promise<HboneTestPair> {
  const ca = options.ca ?? createTestCa();
  const server_: TestCredentials = options.serverCert ?? ca.issue(TEST_SERVER_ID);
  const serverCredentials = {
    keyPem: server_.keyPem,
    certChainPem: server_.chainPem,
    rootCertPem: server_.rootPem ?? ca.rootPem,
  };
  const server = new HboneServer({
    trustDomain: 'cluster.local',
    credentialsFor: () => serverCredentials,
    onTunnel: options.onTunnel ?? ((tunnel) => void forwardTunnel(tunnel)),
    ...(options.protocol ? { protocol: options.protocol } : {}),
  });
  const port = await server.listen({ host: '127.0.0.1', port: 0 });
  const client: TestCredentials | 'none' = options.clientCert ?? ca.issue(TEST_CLIENT_ID);
  const clientContext =
    client === 'none'
      ? createHboneSecureContextWithoutCert(ca.rootPem)
      : createHboneSecureContext({ keyPem: client.keyPem, certChainPem: client.chainPem, rootCertPem: client.rootPem ?? ca.rootPem });
  const pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => clientContext, ...options.pool });
  return {
    ca,
    server,
    pool,
    destination: `127.0.0.1:${port}`,
    clientIdentity: spiffeUri(TEST_CLIENT_ID),
    serverIdentity: spiffeUri(TEST_SERVER_ID),
    async close() {
      pool.destroy();
      server.destroy();
    },
  };
}

function createHboneSecureContextWithoutCert(rootPem: string) {
  return createSecureContext({ ca: rootPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
}

export { startTlsRelay } from './tls-relay.js';
export type { TlsRelay, TlsRelayOptions } from './tls-relay.js';
export { listH2specCases, runH2specCase } from './h2spec.js';
export type { H2specCase, H2specResult } from './h2spec.js';
export { missingToolReason, testToolPath, testToolsDir } from './tools.js';
export { HOSTILE_ATTACKS, HOSTILE_PEAK_GROWTH_BOUND_MIB, processMemory, resetPeakMemory, runHostileAttack } from './hostile.js';
export type { Attack, AttackResult, HostileRun, HostileServer, HostileTarget } from './hostile.js';
