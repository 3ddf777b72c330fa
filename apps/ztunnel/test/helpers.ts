/**
 * In-process ztunnels on loopback for the integration tests: explicit mode, pods as 127.x
 * addresses, config pushed straight into the model store (no control plane), certificates from a
 * throw-away CA.
 */
import type { Socket } from 'node:net';
import { TYPE_URL } from '@mesh/xds';
import { parseSpiffeUri } from '@mesh/pki';
import type { TestCa } from '@mesh/pki/testing';
import { Ztunnel, type ZtunnelOptions } from '../src/ztunnel.js';
import { createMemoryProxyLogger as createMemoryLogger } from '@mesh/log';
import { buildFakeResources, type FakeMesh } from '../src/testing/mesh-resources.js';
import { socks5Connect } from '../src/testing/socks5-client.js';
import type { CertificateSigner } from '@mesh/workload-identity';

export interface LoopbackNode {
  name: string;
  ztunnel: Ztunnel;
  logger: ReturnType<typeof createMemoryLogger>;
  socks: { host: string; port: number };
}

export function testSigner(ca: TestCa, ttlMs?: number): CertificateSigner {
  return async ({ identity, csrPem }) => {
    const issued = ca.ca.issueWorkloadCert({ csrPem, identity: parseSpiffeUri(identity), ...(ttlMs ? { ttlMs, notBefore: new Date(Date.now() - 1_000) } : {}) });
    return [issued.certPem, ...ca.ca.caChain];
  };
}

export function pushMesh(node: LoopbackNode, mesh: FakeMesh): void {
  const r = buildFakeResources(mesh, node.name);
  const version = String(Date.now());
  for (const [type, resources] of [
    [TYPE_URL.CLUSTER, r.clusters],
    [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, r.endpoints],
    [TYPE_URL.LISTENER, r.listeners],
  ] as const) {
    const reason = node.ztunnel.store.apply(type, version, resources);
    if (reason) throw new Error(reason);
  }
}

export async function startLoopbackNode(
  name: string,
  mesh: FakeMesh,
  sign: CertificateSigner,
  options: Partial<Pick<ZtunnelOptions, 'socks5HandshakeTimeoutMs' | 'dnsProxy' | 'dnsPort' | 'dnsUpstream'>> = {},
): Promise<LoopbackNode> {
  const logger = createMemoryLogger();
  const ztunnel = new Ztunnel({
    nodeName: name,
    captureMode: 'explicit',
    listenAddress: '127.0.0.1',
    outboundPort: 0,
    inboundPlaintextPort: 0,
    hbonePort: mesh.hbonePort ?? 15008,
    socks5Port: 0,
    trustDomain: 'cluster.local',
    logger,
    sign,
    ...options,
  });
  const node: LoopbackNode = { name, ztunnel, logger, socks: { host: '127.0.0.1', port: 0 } };
  pushMesh(node, mesh);
  await ztunnel.start();
  node.socks.port = (ztunnel.addresses()[0] as { port: number }).port;
  return node;
}

export function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', onData);
      socket.pause();
      resolve(text.slice(0, nl));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.resume();
  });
}

export async function ask(from: string, node: LoopbackNode, host: string, port: number): Promise<string> {
  const socket = await socks5Connect({ proxy: node.socks, localAddress: from, host, port });
  try {
    return await readLine(socket);
  } finally {
    socket.destroy();
  }
}

export { eventually, nextEvent, waitFor } from '@mesh/testing';

/**
 * A ztunnel that listens nowhere (explicit mode, port 0) and never gets a certificate (its CA
 * never answers), for tests of its model and admin views.
 */
export function offlineZtunnel(nodeName: string, xdsDialect: 'envoy' | 'workload' = 'envoy'): Ztunnel {
  return new Ztunnel({
    nodeName,
    captureMode: 'explicit',
    listenAddress: '127.0.0.1',
    outboundPort: 0,
    inboundPlaintextPort: 0,
    hbonePort: 0,
    socks5Port: 0,
    trustDomain: 'cluster.local',
    xdsDialect,
    logger: createMemoryLogger(),
    sign: () => new Promise(() => undefined),
    generateKeyAndCsr: async () => ({ keyPem: '', csrPem: '' }),
  });
}
