/**
 * Composition of istiod-lite: config source → ADS server (mTLS 15012, and plaintext 15010 only
 * when asked for) and CA (15012), debug HTTP (15014, loopback). `startIstiod` is what main and
 * the integration tests run. Who may reach which port: docs/operations.md, "Who may reach what".
 */
import * as grpc from '@grpc/grpc-js';
import { isLoopbackAddress, listenOperatorHttp } from '@mesh/admin-access';
import { WAYPOINT_GATEWAY_CLASS, type MeshSnapshot } from '@mesh/mesh-model';
import type { RootCa } from '@mesh/pki';
import { aggregatedDiscoveryServiceDefinition, caServiceDefinition } from '@mesh/xds';
import { caServiceHandlers } from './ca/ca-server.js';
import { WaypointCredentials, ensureNodeCredentials, issueIstiodServingCredentials, loadMeshCa } from './ca/credentials.js';
import { callerAuthenticator, type AuthenticateCall } from './ca/caller.js';
import { KubernetesAuthenticator, grpcStatusOfAuthError } from './ca/kubernetes-identity.js';
import type { WaypointRef } from './ca/waypoint-identity.js';
import type { IstiodConfig } from './config.js';
import type { ConfigSource } from './config-source/config-source.js';
import { DirectoryConfigSource } from './config-source/directory-config-source.js';
import { KubernetesConfigSource, loadKubeConfig } from './config-source/kubernetes-config-source.js';
import { KubernetesControllers } from './config-source/kubernetes-controllers.js';
import { DEFAULT_WAYPOINT_IMAGE, DEFAULT_WAYPOINT_XDS_ADDRESS } from './config-source/kubernetes-waypoints.js';
import { checkStateDirWritable } from './state-dir.js';
import { createDebugHandler } from './debug/debug-server.js';
import type { Logger } from './log.js';
import { AdsServer, type VerifiedPeer } from './xds/ads-server.js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { GeneratorRegistry } from './xds/proxy-resources.js';

export interface StartIstiodOptions {
  config: IstiodConfig;
  /** Which generator serves which proxy and type URL (`meshGenerators` in production). */
  generators: GeneratorRegistry;
  logger: Logger;
  /** Config reload debounce; tests shorten it. */
  debounceMs?: number;
  /** How long a disconnected proxy's cached resources are kept; tests shorten it. */
  idleTtlMs?: number;
}

/**
 * Largest request the ADS servers accept (grpc-js defaults to 4 MiB): a delta client that
 * reconnects lists every resource it has in `initial_resource_versions`, ~130 bytes each.
 */
export const XDS_MAX_REQUEST_BYTES = 64 * 1024 * 1024;

export interface Istiod {
  /** Bound ports; `xds` (plaintext) only when --xds-port asked for it. */
  readonly ports: { xds: number | undefined; xdsTls: number; debug: number };
  readonly ca: RootCa;
  readonly ads: AdsServer;
  readonly source: ConfigSource;
  /** Graceful: ends streams, stops servers and the watcher. Idempotent. */
  close(): Promise<void>;
}

export async function startIstiod(options: StartIstiodOptions): Promise<Istiod> {
  const { config, logger } = options;
  // First, so an unusable state directory is a clear error before anything runs.
  await checkStateDirWritable(config.stateDir);
  const sourceOptions = { trustDomain: config.trustDomain, logger, ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}) };
  const kubeConfig =
    config.configSource === 'kubernetes' ? loadKubeConfig({ ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}), ...(config.context ? { context: config.context } : {}) }) : undefined;
  const source: ConfigSource = kubeConfig ? await KubernetesConfigSource.open(kubeConfig, sourceOptions) : await DirectoryConfigSource.open(config.configDir ?? '', sourceOptions);
  try {
    return await serve(options, source, kubeConfig);
  } catch (err) {
    // A start that fails must not leave the watcher holding the process open.
    source.close();
    throw err;
  }
}

/** Everything after the config source: CA, credentials, ADS, CA service, debug HTTP. */
async function serve(options: StartIstiodOptions, source: ConfigSource, kubeConfig: KubeConfig | undefined): Promise<Istiod> {
  const { config, logger } = options;
  const ca = loadMeshCa(config.stateDir, config.trustDomain, config.cacertsDir);
  // On Kubernetes proxies may prove themselves with their service-account token, as with istiod
  // (ca/caller.ts); node bootstrap certificates are accepted in both modes.
  const tokens = kubeConfig ? new KubernetesAuthenticator({ kubeConfig, trustDomain: config.trustDomain, trustedNodeAccounts: config.caTrustedNodeAccounts }) : undefined;
  // Directory mode: each istio-waypoint Gateway gets a credential of its own (ca/waypoint-identity.ts),
  // so its waypoint is no longer as trusted as its node. On Kubernetes the waypoint uses its token.
  const waypoints = kubeConfig ? undefined : new WaypointCredentials(ca, config.stateDir, logger);
  const authenticate = callerAuthenticator(ca.trustDomain, tokens, waypoints);
  await Promise.all([ensureNodeCredentials(ca, config.stateDir, source.current().nodes.keys(), logger), waypoints?.ensure(waypointGateways(source.current()))]);
  const onSnapshot = () => {
    ensureNodeCredentials(ca, config.stateDir, source.current().nodes.keys(), logger).catch((err: unknown) =>
      logger.error('could not issue node bootstrap credentials', { error: String(err) }),
    );
    waypoints?.ensure(waypointGateways(source.current())).catch((err: unknown) => logger.error('could not issue waypoint credentials', { error: String(err) }));
  };
  source.on('snapshot', onSnapshot);
  const serving = await issueIstiodServingCredentials(ca);
  // Its name in syncz, as istiod's is its pod's (POD_NAME, from the downward API on Kubernetes).
  const id = process.env['POD_NAME'] || 'istiod-lite';
  const ads = new AdsServer({ source, generators: options.generators, logger, id, waypointCredentials: waypoints !== undefined, ...(options.idleTtlMs !== undefined ? { idleTtlMs: options.idleTtlMs } : {}) });

  const serverOptions = { 'grpc.max_receive_message_length': XDS_MAX_REQUEST_BYTES };
  // Plaintext ADS trusts the caller's NODE_NAME: for local development, and only when asked for.
  let plaintext: grpc.Server | undefined;
  if (config.xdsPort !== undefined) {
    plaintext = new grpc.Server(serverOptions);
    plaintext.addService(aggregatedDiscoveryServiceDefinition(), ads.handlers({ secure: false }));
  }

  const secure = new grpc.Server(serverOptions);
  secure.addService(
    aggregatedDiscoveryServiceDefinition(),
    ads.handlers({ secure: true, authenticate: (stream) => streamPeer(authenticate, stream), statusOf: grpcStatusOfAuthError }),
  );
  secure.addService(caServiceDefinition(), caServiceHandlers({ ca, snapshot: () => source.current(), logger, workloadCertTtlMs: config.workloadCertTtlMs, authenticate, waypointCredentials: waypoints !== undefined }));
  const tlsCredentials = tokens ? optionalClientCertCredentials(serving) : grpc.ServerCredentials.createSsl(
    Buffer.from(serving.rootPem),
    [{ cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.keyPem) }],
    true, // require and verify a client certificate chaining to the mesh root
  );

  let ready = false;
  const debug = await listenOperatorHttp(createDebugHandler({ ads, source, isReady: () => ready }), { what: 'istiod-lite debug', host: config.debugAddress, port: config.debugPort });
  const ports = {
    xds: plaintext ? await bindGrpc(plaintext, grpcAddress(config.xdsPlaintextAddress, config.xdsPort ?? 0), grpc.ServerCredentials.createInsecure()) : undefined,
    xdsTls: await bindGrpc(secure, grpcAddress(config.listenAddress, config.xdsTlsPort), tlsCredentials),
    debug: debug.port,
  };
  if (plaintext && !isLoopbackAddress(config.xdsPlaintextAddress)) {
    logger.warn('plaintext ADS listens beyond loopback: any caller that reaches it gets the configuration of any node it claims to be', { address: config.xdsPlaintextAddress, port: ports.xds });
  }
  // istio-ca-root-cert ConfigMaps and waypoint pods, as istiod's namespace and gateway
  // deployment controllers (config-source/kubernetes-controllers.ts).
  const controllers =
    kubeConfig && source instanceof KubernetesConfigSource
      ? new KubernetesControllers(kubeConfig, source, {
          rootCertPem: ca.rootCertPem,
          waypoint: { image: config.waypointImage ?? DEFAULT_WAYPOINT_IMAGE, xdsAddress: config.waypointXdsAddress ?? DEFAULT_WAYPOINT_XDS_ADDRESS, trustDomain: config.trustDomain },
          logger,
          ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
        })
      : undefined;
  controllers?.start();
  ready = true;
  logger.info('istiod-lite ready', {
    ports,
    addresses: { xdsTls: config.listenAddress, debug: config.debugAddress, ...(plaintext ? { xds: config.xdsPlaintextAddress } : {}) },
    configSource: config.configSource,
    ...(config.configDir ? { configDir: config.configDir } : {}),
    stateDir: config.stateDir,
    trustDomain: config.trustDomain,
  });

  let closing: Promise<void> | undefined;
  return {
    ports,
    ca,
    ads,
    source,
    close() {
      closing ??= (async () => {
        ready = false;
        source.off('snapshot', onSnapshot);
        controllers?.close();
        source.close();
        ads.close();
        await Promise.all([plaintext ? shutdownGrpc(plaintext) : undefined, shutdownGrpc(secure), debug.close()]);
      })();
      return closing;
    },
  };
}

/** The caller of an ADS stream as the ADS server needs it. */
async function streamPeer(authenticate: AuthenticateCall, stream: grpc.ServerDuplexStream<unknown, unknown>): Promise<VerifiedPeer> {
  const caller = await authenticate(stream.metadata, stream.getAuthContext()?.sslPeerCertificate);
  if (caller.kind === 'node') return { nodeName: caller.nodeName };
  if (caller.kind === 'waypoint') return { waypoint: { namespace: caller.namespace, gateway: caller.gateway } };
  return {
    ...(caller.nodeName ? { nodeName: caller.nodeName } : {}),
    serviceAccount: { namespace: caller.namespace, name: caller.serviceAccount, nodeProxy: caller.nodeProxy },
  };
}

/** The istio-waypoint Gateways of a snapshot, which get waypoint credentials. */
function waypointGateways(snapshot: MeshSnapshot): WaypointRef[] {
  return [...snapshot.gateways.values()].filter((gw) => gw.gatewayClassName === WAYPOINT_GATEWAY_CLASS).map((gw) => ({ namespace: gw.namespace, gateway: gw.name }));
}

/**
 * TLS for the Kubernetes source: a client certificate is asked for but not required (a proxy with
 * a token has none, as Istio's 15012). grpc-js's auth context shows a peer certificate only when it
 * verified against the mesh root, so an unverified one is no credential.
 */
function optionalClientCertCredentials(serving: { certChainPem: string; keyPem: string; rootPem: string }): grpc.ServerCredentials {
  // grpc-js registers the server's watcher after the provider's listeners: an answer given at once
  // would reach no one (and every connection be dropped), so it comes a microtask later.
  const provider = {
    addCaCertificateListener: (listener: (update: { caCertificate: Buffer }) => void) => queueMicrotask(() => listener({ caCertificate: Buffer.from(serving.rootPem) })),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (listener: (update: { certificate: Buffer; privateKey: Buffer }) => void) =>
      queueMicrotask(() => listener({ certificate: Buffer.from(serving.certChainPem), privateKey: Buffer.from(serving.keyPem) })),
    removeIdentityCertificateListener: () => undefined,
  };
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** grpc-js wants IPv6 literals in brackets. */
function grpcAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function bindGrpc(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

/** Graceful shutdown, forced after a second so a stuck stream cannot hold the process. */
function shutdownGrpc(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 1_000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
