/**
 * Shared setup for istiod-lite integration tests: a manifest directory, a small deterministic
 * generator (the real one is golden-tested on its own), a started istiod on port 0, and clients.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { spiffeServerIdentityCheck } from '@mesh/pki';
import { writeTestCacerts, type TestCacertsOptions } from '@mesh/pki/testing';
import {
  ADS_DELTA_METHOD_PATH,
  ADS_STREAM_METHOD_PATH,
  TYPE_URL,
  XdsClient,
  deserializeDeltaDiscoveryResponse,
  deserializeDiscoveryResponse,
  serializeDeltaDiscoveryRequest,
  serializeDiscoveryRequest,
} from '@mesh/xds';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse, ResourceJson, XdsClientOptions, XdsResourcesUpdate } from '@mesh/xds';
import { parseConfig } from '../src/config.js';
import { nodeCredentialDir } from '../src/ca/credentials.js';
import { startIstiod } from '../src/istiod.js';
import type { Istiod } from '../src/istiod.js';
import { createMemoryLogger } from '../src/log.js';
import { GeneratorRegistry, byResourceName } from '../src/xds/proxy-resources.js';
import type { XdsGenerator } from '../src/xds/proxy-resources.js';

export const TRUST_DOMAIN = 'cluster.local';

export const MESH_YAML = `apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    istio.io/dataplane-mode: ambient
---
apiVersion: v1
kind: Node
metadata:
  name: node-a
status:
  addresses:
    - type: InternalIP
      address: 10.77.0.11
---
apiVersion: v1
kind: Node
metadata:
  name: node-b
status:
  addresses:
    - type: InternalIP
      address: 10.77.0.12
`;

export function podYaml(name: string, node: string, ip: string, serviceAccount = name): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
  labels:
    app: ${name}
spec:
  serviceAccountName: ${serviceAccount}
  nodeName: ${node}
  containers:
    - name: app
      image: example/${name}
      ports:
        - containerPort: 9080
status:
  phase: Running
  podIP: ${ip}
`;
}

/**
 * A tiny generator: per local pod an inbound listener filter chain, per pod in the mesh a cluster
 * and its endpoints. Enough to see pushes follow manifest edits; the real generator has goldens.
 */
function testResources(snapshot: MeshSnapshot, nodeName: string): { listeners: ResourceJson[]; clusters: ResourceJson[]; endpoints: ResourceJson[] } {
  const pods = [...snapshot.pods.values()].filter((pod) => pod.podIP);
  const clusters: ResourceJson[] = pods.map((pod) => ({
    '@type': TYPE_URL.CLUSTER,
    name: `pod_${pod.name}`,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  }));
  const endpoints: ResourceJson[] = pods.map((pod) => ({
    '@type': TYPE_URL.CLUSTER_LOAD_ASSIGNMENT,
    cluster_name: `pod_${pod.name}`,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: pod.podIP, port_value: 9080 } } } }] }],
  }));
  const local = snapshot.podsOnNode(nodeName).filter((pod) => pod.podIP);
  const listeners: ResourceJson[] = [
    {
      '@type': TYPE_URL.LISTENER,
      name: 'ztunnel_inbound',
      address: { socket_address: { address: '0.0.0.0', port_value: 15008 } },
      filter_chains: local.map((pod) => ({
        name: `inbound_${pod.podIP}`,
        filter_chain_match: { prefix_ranges: [{ address_prefix: pod.podIP, prefix_len: 32 }] },
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              stat_prefix: pod.name,
              cluster: `pod_${pod.name}`,
            },
          },
        ],
      })),
    },
  ];
  return { listeners, clusters, endpoints };
}

/** Per node, like the real ztunnel generator. */
export const testGenerator: XdsGenerator = {
  name: 'test',
  typeUrls: [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER],
  scopeOf: (proxy) => proxy.nodeName,
  generate: (snapshot, proxy) => {
    const { listeners, clusters, endpoints } = testResources(snapshot, proxy.nodeName);
    return new Map([
      [TYPE_URL.CLUSTER, byResourceName(clusters)],
      [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, byResourceName(endpoints)],
      [TYPE_URL.LISTENER, byResourceName(listeners)],
    ]);
  },
};

export const testGenerators = new GeneratorRegistry([{ generator: testGenerator, serves: () => true }]);

export interface TestIstiod {
  istiod: Istiod;
  configDir: string;
  stateDir: string;
  logger: ReturnType<typeof createMemoryLogger>;
  writeManifest(name: string, text: string): Promise<void>;
  readManifest(name: string): Promise<string>;
  plaintextClient(nodeName: string, options?: Partial<XdsClientOptions>): XdsClient;
  secureCredentials(nodeName: string): Promise<grpc.ChannelCredentials>;
  cleanup(): Promise<void>;
}

export async function startTestIstiod(
  files: Record<string, string>,
  generators: GeneratorRegistry = testGenerators,
  options: { idleTtlMs?: number; cacerts?: TestCacertsOptions; workloadCertTtlMs?: number } = {},
): Promise<TestIstiod> {
  const root = await mkdtemp(path.join(tmpdir(), 'istiod-test-'));
  const configDir = path.join(root, 'config');
  const stateDir = path.join(root, 'state');
  await import('node:fs/promises').then((fs) => fs.mkdir(configDir, { recursive: true }));
  // A plugged-in CA where istiod-lite looks for one by default (<state-dir>/cacerts).
  const { cacerts, workloadCertTtlMs, ...istiodOptions } = options;
  if (cacerts) writeTestCacerts(path.join(stateDir, 'cacerts'), { ...cacerts, trustDomain: TRUST_DOMAIN });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(configDir, name), text);
  const logger = createMemoryLogger();
  // Plaintext ADS is off unless asked for: these tests ask (on loopback), to speak ADS without certificates.
  const config = parseConfig({ configDir, stateDir, xdsPort: 0, xdsTlsPort: 0, debugPort: 0, listenAddress: '127.0.0.1', trustDomain: TRUST_DOMAIN, ...(workloadCertTtlMs ? { workloadCertTtlMs } : {}) });
  const istiod = await startIstiod({ config, generators, logger, ...istiodOptions });
  const clients: XdsClient[] = [];
  return {
    istiod,
    configDir,
    stateDir,
    logger,
    writeManifest: (name, text) => writeFile(path.join(configDir, name), text),
    readManifest: (name) => readFile(path.join(configDir, name), 'utf8'),
    plaintextClient(nodeName, options = {}) {
      const client = new XdsClient({
        target: `127.0.0.1:${istiod.ports.xds}`,
        node: proxyNode(nodeName),
        initialBackoffMs: 20,
        ...options,
      });
      clients.push(client);
      return client;
    },
    secureCredentials: (nodeName) => credentialsIn(nodeCredentialDir(stateDir, nodeName)),
    async cleanup() {
      for (const client of clients) client.close();
      await istiod.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** mTLS client credentials from a credential directory istiod-lite wrote (cert.pem, key.pem, root-cert.pem), checking istiod's SPIFFE ID. */
export async function credentialsIn(dir: string): Promise<grpc.ChannelCredentials> {
  const [key, cert, rootCert] = await Promise.all(['key.pem', 'cert.pem', 'root-cert.pem'].map((f) => readFile(path.join(dir, f))));
  return grpc.credentials.createSsl(rootCert!, key!, cert!, {
    checkServerIdentity: spiffeServerIdentityCheck([{ trustDomain: TRUST_DOMAIN, namespace: 'istio-system', serviceAccount: 'istiod' }]),
  });
}

/** The gRPC error a call that must be refused ends with (the CA's PERMISSION_DENIED, UNAUTHENTICATED, …). */
export async function refusal(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to be refused');
}

export function proxyNode(nodeName: string, claimedNodeName = nodeName) {
  return { id: `ztunnel~10.77.0.${nodeName === 'node-a' ? 11 : 12}~ztunnel-${nodeName}~istio-system.svc.cluster.local`, metadata: { NODE_NAME: claimedNodeName } };
}

export { nextUpdate } from '@mesh/xds/testing';
export { waitFor } from '@mesh/testing';

export function filterChainNames(update: XdsResourcesUpdate | undefined): string[] {
  const listener = update?.resources.find((r) => r['name'] === 'ztunnel_inbound');
  return ((listener?.['filter_chains'] as Array<{ name: string }> | undefined) ?? []).map((chain) => chain.name).sort();
}

/** A bare ADS stream for protocol-level assertions: records responses, sends what the test says. */
export function rawAdsStream(port: number) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const stream = client.makeBidiStreamRequest(ADS_STREAM_METHOD_PATH, serializeDiscoveryRequest, deserializeDiscoveryResponse);
  const responses: DiscoveryResponse[] = [];
  stream.on('data', (response: DiscoveryResponse) => responses.push(response));
  stream.on('error', () => {});
  return {
    responses,
    send: (request: DiscoveryRequest) => stream.write(request),
    close() {
      stream.cancel();
      client.close();
    },
  };
}

/** A bare delta ADS stream for protocol-level assertions: records responses, sends what the test says. */
export function rawDeltaStream(port: number) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const stream = client.makeBidiStreamRequest(ADS_DELTA_METHOD_PATH, serializeDeltaDiscoveryRequest, deserializeDeltaDiscoveryResponse);
  const responses: DeltaDiscoveryResponse[] = [];
  stream.on('data', (response: DeltaDiscoveryResponse) => responses.push(response));
  stream.on('error', () => {});
  return {
    responses,
    /** Sends a request; fields not given are empty. */
    send: (request: Partial<DeltaDiscoveryRequest> & { type_url: string }) =>
      stream.write({ resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '', ...request }),
    /** ACKs every response received so far that is not ACKed yet. */
    ackAll(acked = new Set<string>()) {
      for (const response of responses) {
        if (acked.has(response.nonce)) continue;
        acked.add(response.nonce);
        stream.write({ type_url: response.type_url, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: response.nonce });
      }
      return acked;
    },
    close() {
      stream.cancel();
      client.close();
    },
  };
}
