/**
 * What ztunnel runs once its runtime settings are in force (main.ts): parse flags once, wire the control plane (xDS + CA over mTLS with the node
 * bootstrap credential), start the proxy, the admin API (15000, loopback and Unix socket only),
 * metrics (15020) and readiness (15021), stop cleanly on SIGINT/SIGTERM.
 */
import { isLoopbackAddress } from '@mesh/admin-access';
import { readEntryCommandLine, stopSignal } from '@mesh/cli-config';
import { listenProxySurfaces } from '@mesh/proxy-runtime';
import { isMeshError, MeshError } from '@mesh/errors';
import { createAdminHandler, createMetricsHandler, createReadinessHandler } from './admin/admin-server.js';
import { createCaptureManager, type CaptureManager } from './capture.js';
import { adminAddressOf, CERT_TTL_SECONDS, HELP_TEXT, parseConfig } from './config.js';
import { formatAddress } from '@mesh/envoy-config';
import { localWorkloads } from '@mesh/ztunnel-plan';
import { caSigner, type CertificateSigner, controlPlaneCredentials, controlPlaneToken } from '@mesh/workload-identity';
import { createProxyLogger } from '@mesh/log';
import { startXds, ztunnelNode } from './xds/xds.js';
import { Ztunnel } from './ztunnel.js';
import { releaseStartupMemory } from './runtime.js';

/** How long a stopping ztunnel lets open connections drain. */
const DRAIN_TIMEOUT_MS = 1_000;
/** How often start-up checks whether ztunnel is ready, and how long after that it releases start-up memory (runtime.ts). */
const READY_POLL_MS = 250;
const STARTUP_SETTLE_MS = 500;

async function main(): Promise<number> {
  const commandLine = readEntryCommandLine('ztunnel', () => parseConfig(process.argv.slice(2), process.env), HELP_TEXT);
  if ('exitCode' in commandLine) return commandLine.exitCode;
  const config = commandLine.config;
  const logger = createProxyLogger({ level: config.logLevel });
  const credentials = await controlPlaneCredentials(config.bootstrapDir, config.trustDomain, controlPlaneToken(config));
  const secure = Boolean(config.bootstrapDir || config.tokenFile);
  const ca = secure ? caSigner(config.caAddress ?? config.xdsAddress, credentials, CERT_TTL_SECONDS) : undefined;
  const sign: CertificateSigner =
    ca?.sign ??
    (() =>
      Promise.reject(
        new MeshError('ZTUNNEL_ERR_NO_CA', 'no CA: workload certificates need --bootstrap-dir or --token-file (TLS to istiod-lite on 15012)'),
      ));
  let capture: CaptureManager | undefined;
  if (config.captureNetns) {
    if (config.captureMode !== 'transparent') throw new MeshError('ZTUNNEL_ERR_CONFIG', '--capture-netns needs --capture-mode transparent');
    // DNAT to a loopback address from a pod's interface is dropped as martian: DNS capture needs a node address.
    const dnsAddress = config.dnsAddress ?? config.listenAddress;
    const dns = config.dnsProxy && !isLoopbackAddress(dnsAddress) ? { address: dnsAddress, port: config.dnsPort } : undefined;
    if (config.dnsProxy && !dns) logger.log('dns', 'warn', 'pods\' DNS is not captured: the DNS proxy listens on a loopback address, which a pod\'s DNAT cannot reach (--dns-address)', { address: dnsAddress });
    capture = createCaptureManager(config.captureNetns, { outbound: config.outboundPort, inbound: config.hbonePort, inboundPlaintext: config.inboundPlaintextPort }, logger, undefined, dns);
  }
  const ztunnel = new Ztunnel({
    ...config,
    logger,
    sign,
    onModelChange: ({ model, previous }) => {
      if (capture && model.listeners !== previous.listeners) capture.update(localWorkloads(model).map((w) => w.ip));
    },
  });
  await ztunnel.start();
  // The admin handler needs the xDS node (config_dump's bootstrap), and the node advertises the
  // admin endpoint, which exists once listening: the handler reads the node when asked.
  let node = ztunnelNode(config.nodeName, '');
  const surfaces = await listenProxySurfaces({
    what: 'ztunnel admin',
    admin: createAdminHandler({ ztunnel, logger, node: () => node, startedAt: new Date() }),
    readiness: createReadinessHandler(ztunnel),
    metrics: createMetricsHandler(ztunnel),
    adminAddress: adminAddressOf(config),
    adminPort: config.adminPort,
    adminSocket: config.adminSocket,
    listenAddress: config.listenAddress,
    readinessPort: config.readinessPort,
    metricsPort: config.metricsPort,
  });
  // Advertised to istiod-lite (/debug/syncz): where meshctl finds this admin API and how to get there.
  const { adminMetadata } = surfaces;
  node = ztunnelNode(config.nodeName, '', adminMetadata);
  // istiod-lite is the CA too: once its stream is back, certificates whose renewal failed while it
  // was away are asked for at once (they may have expired meanwhile).
  const xds = startXds({ target: config.xdsAddress, protocol: config.xdsProtocol, credentials, nodeName: config.nodeName, adminMetadata, store: ztunnel.store, logger, onConnected: () => ztunnel.certs.retryFailedNow() });
  // Once ready (listening, first full config, certificates) and settled: start-up's garbage goes.
  const startup = setInterval(() => {
    if (!ztunnel.ready) return;
    clearInterval(startup);
    setTimeout(() => {
      const rssBefore = process.memoryUsage.rss();
      const { pauseMs } = releaseStartupMemory();
      logger.log('proxy', 'info', 'released start-up memory', { pause_ms: pauseMs, rss_before: rssBefore, rss_after: process.memoryUsage.rss() });
    }, STARTUP_SETTLE_MS).unref();
  }, READY_POLL_MS).unref();
  logger.log('proxy', 'info', 'ztunnel started', {
    node: config.nodeName,
    mode: config.captureMode,
    xds: config.xdsAddress,
    secure,
    ...(config.tokenFile ? { auth: 'token' } : config.bootstrapDir ? { auth: 'certificate' } : {}),
    listeners: ztunnel.addresses(),
    admin: surfaces.adminAddress,
    ...(surfaces.adminSocket ? { adminSocket: surfaces.adminSocket } : {}),
    metrics: formatAddress(config.listenAddress, surfaces.metricsPort),
    readiness: formatAddress(config.listenAddress, surfaces.readinessPort),
  });
  logger.log('proxy', 'info', 'shutting down', { signal: await stopSignal() });
  xds.close();
  ca?.close();
  await surfaces.close();
  if (config.removeCaptureOnExit) {
    await capture?.remove().catch((err: unknown) => logger.log('proxy', 'error', 'cannot remove capture rules', { error: String(err) }));
  }
  // Let open connections finish briefly, then cut the rest.
  await Promise.race([ztunnel.close(), new Promise((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS))]);
  ztunnel.destroy();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Open sockets (pool keepalives, gRPC) must not keep a stopped ztunnel alive.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`ztunnel: ${isMeshError(err) ? err.message : String(err)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  },
);
