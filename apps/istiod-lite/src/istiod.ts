/**
 * Composition of istiod-lite: config source → ADS server (plaintext 15010, mTLS 15012) and CA
 * (15012), debug HTTP (15014). `startIstiod` is what main and the integration tests run.
 */
import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { RootCa } from '@mesh/pki';
import { aggregatedDiscoveryServiceDefinition, caServiceDefinition } from '@mesh/xds';
import { caServiceHandlers } from './ca/ca-server.js';
import { ensureNodeCredentials, issueIstiodServingCredentials, loadOrCreateRootCa } from './ca/credentials.js';
import { nodeNameFromPeerCertificate } from './ca/node-identity.js';
import type { IstiodConfig } from './config.js';
import { DirectoryConfigSource } from './config-source/directory-config-source.js';
import { createDebugServer, listenHttp } from './debug/debug-server.js';
import type { Logger } from './log.js';
import { AdsServer } from './xds/ads-server.js';
import type { ProxyResourceGenerator } from './xds/proxy-resources.js';

export interface StartIstiodOptions {
  config: IstiodConfig;
  generate: ProxyResourceGenerator;
  logger: Logger;
  /** Config reload debounce; tests shorten it. */
  debounceMs?: number;
}

export interface Istiod {
  readonly ports: { xds: number; xdsTls: number; debug: number };
  readonly ca: RootCa;
  readonly ads: AdsServer;
  readonly source: DirectoryConfigSource;
  /** Graceful: ends streams, stops servers and the watcher. Idempotent. */
  close(): Promise<void>;
}

export async function startIstiod(options: StartIstiodOptions): Promise<Istiod> {
  const { config, logger } = options;
  const source = await DirectoryConfigSource.open(config.configDir, {
    trustDomain: config.trustDomain,
    logger,
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
  });
  const ca = loadOrCreateRootCa(config.stateDir, config.trustDomain);
  await ensureNodeCredentials(ca, config.stateDir, source.current().nodes.keys(), logger);
  const onSnapshot = () => {
    ensureNodeCredentials(ca, config.stateDir, source.current().nodes.keys(), logger).catch((err: unknown) =>
      logger.error('could not issue node bootstrap credentials', { error: String(err) }),
    );
  };
  source.on('snapshot', onSnapshot);
  const serving = await issueIstiodServingCredentials(ca);
  const ads = new AdsServer({ source, generate: options.generate, logger });

  const plaintext = new grpc.Server();
  plaintext.addService(aggregatedDiscoveryServiceDefinition(), ads.handlers({ secure: false }));

  const secure = new grpc.Server();
  secure.addService(
    aggregatedDiscoveryServiceDefinition(),
    ads.handlers({ secure: true, nodeNameOf: (stream) => nodeNameFromPeerCertificate(stream.getAuthContext()?.sslPeerCertificate, ca.trustDomain) }),
  );
  secure.addService(caServiceDefinition(), caServiceHandlers({ ca, snapshot: () => source.current(), logger }));
  const tlsCredentials = grpc.ServerCredentials.createSsl(
    Buffer.from(serving.rootPem),
    [{ cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.keyPem) }],
    true, // require and verify a client certificate chaining to the mesh root
  );

  let ready = false;
  const debug: HttpServer = createDebugServer({ ads, source, isReady: () => ready });
  const ports = {
    xds: await bindGrpc(plaintext, `${config.listenAddress}:${config.xdsPort}`, grpc.ServerCredentials.createInsecure()),
    xdsTls: await bindGrpc(secure, `${config.listenAddress}:${config.xdsTlsPort}`, tlsCredentials),
    debug: await listenHttp(debug, config.debugPort, config.listenAddress),
  };
  ready = true;
  logger.info('istiod-lite ready', { ports, configDir: config.configDir, stateDir: config.stateDir, trustDomain: config.trustDomain });

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
        source.close();
        ads.close();
        const debugClosed = new Promise<void>((resolve) => debug.close(() => resolve()));
        debug.closeAllConnections(); // keep-alive clients must not hold shutdown open
        await Promise.all([shutdownGrpc(plaintext), shutdownGrpc(secure), debugClosed]);
      })();
      return closing;
    },
  };
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
