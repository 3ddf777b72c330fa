/**
 * The waypoint: composes the xDS subscription (model store), its certificate, the HBONE server
 * (connect_terminate), the request path (main_internal chains) and the outbound HBONE pool
 * (connect_originate), plus admin and readiness.
 *
 * Lifecycle: `start()` resolves once admin/readiness listen and xDS is started; HBONE listens
 * as soon as the first LDS arrives (it refuses TLS until the certificate is there).
 * `close()` is graceful (GOAWAY, tunnels finish), `destroy()` abrupt; both idempotent.
 */
import type * as grpc from '@grpc/grpc-js';
import { HboneServer, HbonePool } from '@mesh/hbone-core';
import { RbacShadowStats } from '@mesh/envoy-config';
import type { ConfigDumpSecret, XdsClient } from '@mesh/xds';
import { configDumpSecrets, RoundRobin, startProxyXds } from '@mesh/proxy-runtime';
import { startAdmin } from './admin/admin-server.js';
import type { WaypointConfig } from './config.js';
import { caSigner, CertManager, controlPlaneCredentials, controlPlaneToken, type CertificateSigner, type CertificateStatus } from '@mesh/workload-identity';
import type { Endpoint } from './config/model.js';
import { ModelStore } from './config/store.js';
import type { ProxyLogger as Logger } from '@mesh/log';
import { RequestMetrics } from './metrics/metrics.js';
import { serveTunnel, type ConnectionDeps } from './proxy/connection.js';
import { UpstreamAgents, type UpstreamContext } from './proxy/upstream.js';
import { waypointNode } from './xds/control-plane.js';
import { CERT_TTL_SECONDS } from './config.js';

export interface WaypointOptions {
  config: WaypointConfig;
  logger: Logger;
  /** Defaults to mTLS with the bootstrap credential (or plaintext without one). */
  credentials?: grpc.ChannelCredentials;
  /** Defaults to istiod-lite's CA at --ca-address / --xds-address. */
  sign?: CertificateSigner;
  /** Uniform [0, 1); replaceable in tests. */
  random?: () => number;
}

export class Waypoint {
  readonly store = new ModelStore();
  readonly metrics = new RequestMetrics();
  /** Dry-run authorization results (`envoy_<scope>_rbac{authz_dry_run_action, authz_dry_run_result}`). */
  readonly rbacStats = new RbacShadowStats();
  /** The waypoint's own certificate (one identity, from LDS). */
  readonly certs: CertManager;
  #identity: string | undefined;
  readonly pool: HbonePool;
  readonly #server: HboneServer;
  readonly #options: WaypointOptions;
  readonly #roundRobin = new RoundRobin();
  readonly #agents = new UpstreamAgents();
  #xds: XdsClient | undefined;
  #admin: Awaited<ReturnType<typeof startAdmin>> | undefined;
  #closeCa: (() => void) | undefined;
  #hbonePort: number | undefined;
  #listening: Promise<number> | undefined;
  #closed = false;

  private constructor(options: WaypointOptions, sign: CertificateSigner) {
    this.#options = options;
    const { config, logger } = options;
    this.certs = new CertManager({ sign });
    this.certs.on('certificate', (e) => logger.log('cert', 'info', 'certificate issued', e));
    this.certs.on('error-retry', (e) => logger.log('cert', 'warn', 'certificate request failed; retrying', e));
    this.pool = new HbonePool({ trustDomain: config.trustDomain, secureContextFor: (identity) => this.certs.secureContext(identity) });
    const store = this.store;
    const deps: ConnectionDeps = {
      // The model in force when read: the store swaps it on every commit.
      get model() {
        return store.model;
      },
      upstream: () => this.#upstreamContext(),
      logger,
      metrics: this.metrics,
      rbacStats: this.rbacStats,
      random: options.random ?? Math.random,
      pickEndpoint: (cluster, endpoints) => this.#pick(cluster, endpoints),
    };
    this.#server = new HboneServer({
      trustDomain: config.trustDomain,
      credentialsFor: () => (this.#identity === undefined ? undefined : this.certs.serverCredentials(this.#identity)),
      onTunnel: (tunnel) => {
        serveTunnel(deps, tunnel).catch((err: unknown) => logger.log('proxy', 'warn', 'tunnel failed', { error: (err as Error).message, authority: tunnel.authority }));
      },
    });
  }

  static async start(options: WaypointOptions): Promise<Waypoint> {
    const { config, logger } = options;
    const credentials = options.credentials ?? (await controlPlaneCredentials(config.bootstrapDir, config.trustDomain, controlPlaneToken(config)));
    let sign = options.sign;
    let closeCa: (() => void) | undefined;
    if (!sign) {
      const ca = caSigner(config.caAddress ?? config.xdsAddress, credentials, CERT_TTL_SECONDS);
      sign = ca.sign;
      closeCa = () => ca.close();
    }
    const waypoint = new Waypoint(options, sign);
    waypoint.#closeCa = closeCa;
    let node = waypointNode(config.podName, config.namespace, config.nodeName, config.podIp);
    waypoint.#admin = await startAdmin(
      {
        node: () => node,
        startedAt: new Date().toISOString(),
        typeStates: () => waypoint.#xds?.currentAll() ?? new Map(),
        metrics: () => waypoint.metrics.render() + waypoint.rbacStats.render(),
        certificate: () => waypoint.#certificateStatus(),
        secrets: () => waypoint.#secrets(),
        ready: () => waypoint.ready,
        logger,
      },
      config,
    );
    node = waypointNode(config.podName, config.namespace, config.nodeName, config.podIp, waypoint.#admin.adminMetadata);
    waypoint.#xds = startProxyXds({ target: config.xdsAddress, protocol: config.xdsProtocol, credentials, node, store: waypoint.store, logger, onApplied: () => waypoint.#onConfig(), onConnected: () => waypoint.certs.retryFailedNow() });
    logger.log('proxy', 'info', 'waypoint started', { pod: `${config.namespace}/${config.podName}`, node: config.nodeName, xds: config.xdsAddress, admin: waypoint.adminPort });
    return waypoint;
  }

  get adminPort(): number | undefined {
    return this.#admin?.adminPort;
  }

  get readinessPort(): number | undefined {
    return this.#admin?.readinessPort;
  }

  get metricsPort(): number | undefined {
    return this.#admin?.metricsPort;
  }

  /** The HBONE port once listening. */
  get hbonePort(): number | undefined {
    return this.#hbonePort;
  }

  get ready(): boolean {
    return this.store.ready && this.#credentials() !== undefined && this.#hbonePort !== undefined;
  }

  /** Resolves with the HBONE port once the waypoint listens. */
  async listening(): Promise<number> {
    while (!this.#listening) await new Promise((r) => setTimeout(r, 20));
    return this.#listening;
  }

  #onConfig(): void {
    const listeners = this.store.model.listeners;
    if (!listeners || this.#closed) return;
    if (listeners.identity !== this.#identity) {
      this.#identity = listeners.identity;
      this.certs.setIdentities([listeners.identity]);
    }
    if (!this.#listening) {
      const port = this.#options.config.hbonePort ?? listeners.hbonePort;
      this.#listening = this.#server.listen({ host: this.#options.config.listenAddress, port }).then((p) => {
        this.#hbonePort = p;
        this.#options.logger.log('proxy', 'info', 'HBONE listening', { address: this.#options.config.listenAddress, port: p, identity: listeners.identity });
        return p;
      });
      this.#listening.catch((err: unknown) => this.#options.logger.log('proxy', 'error', 'cannot listen for HBONE', { port, error: (err as Error).message }));
    }
  }

  #credentials() {
    return this.#identity === undefined ? undefined : this.certs.credentials(this.#identity);
  }

  #certificateStatus(): CertificateStatus | undefined {
    return this.certs.status().find((s) => s.identity === this.#identity);
  }

  #secrets(): ConfigDumpSecret[] {
    const status = this.#certificateStatus();
    const credentials = this.#credentials();
    if (!status || !credentials) return [];
    const lastUpdated = status.notBefore ?? new Date().toISOString();
    return configDumpSecrets([{ ...status, certChainPem: credentials.certChainPem }], { pem: credentials.rootCertPem, lastUpdated });
  }

  #upstreamContext(): UpstreamContext | undefined {
    const clusters = this.store.model.clusters;
    return clusters ? { pool: this.pool, originate: clusters.originate, trustDomain: this.#options.config.trustDomain, agents: this.#agents } : undefined;
  }

  #pick(cluster: string, endpoints: readonly Endpoint[]): Endpoint | undefined {
    return this.#roundRobin.pick(cluster, endpoints);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#xds?.close();
    this.#closeCa?.();
    this.certs.close();
    this.#server.close();
    this.#agents.destroy();
    this.pool.close();
    await this.#admin?.close();
  }

  destroy(): void {
    this.#closed = true;
    this.#xds?.destroy();
    this.#closeCa?.();
    this.certs.close();
    this.#server.destroy();
    this.#agents.destroy();
    this.pool.destroy();
    void this.#admin?.close();
  }
}


