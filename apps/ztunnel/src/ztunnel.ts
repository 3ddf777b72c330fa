/**
 * One node's ztunnel: the model store fed by xDS (or an in-process control plane), the
 * certificate manager, the HBONE pool and server, and the listeners of the capture mode:
 *
 *   transparent: 127.0.0.1:15001 outbound, :15008 HBONE inbound, :15006 plaintext inbound, all
 *                IP_TRANSPARENT so TPROXY can hand them connections for any address
 *   explicit:    <listen>:15080 SOCKS5; <pod ip>:15008 HBONE inbound for every local pod
 *   both:        <dns address, default listen>:15053 DNS proxy (UDP + TCP) unless dnsProxy is false (dns/proxy.ts)
 *
 * Lifecycle: `start()` once; `close()` graceful (stops listening, drains the pool), `destroy()`
 * abrupt; both idempotent.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { HboneServer, type HbonePool } from '@mesh/hbone-core';
import { TPROXY_LISTEN_ADDRESS, listenTransparent } from '@mesh/netfilter';
import { MeshError } from '@mesh/errors';
import type { ZtunnelConfig } from './config.js';
import { localIdentities, localWorkloads, recheck } from '@mesh/ztunnel-plan';
import { ModelStore, type ModelChange } from './xds/model-store.js';
import { normalizeIp } from '@mesh/envoy-config';
import { CertManager, type CertificateSigner } from '@mesh/workload-identity';
import type { ProxyLogger as Logger } from '@mesh/log';
import { TcpMetrics } from './metrics/metrics.js';
import { DnsMetrics } from './dns/metrics.js';
import { startDnsProxy } from './dns/proxy.js';
import type { DnsServer } from './dns/server.js';
import { DEFAULT_CLUSTER_DOMAIN } from './dns/plan.js';
import { RbacShadowStats } from '@mesh/envoy-config';
import { RoundRobin } from '@mesh/proxy-runtime';
import { ConnectionTracker } from './proxy/connections.js';
import type { ProxyContext } from './proxy/context.js';
import { handleInboundPlaintext } from './proxy/inbound-plaintext.js';
import { handleInboundTunnel, serverCredentialsFor } from './proxy/inbound.js';
import { handleOutbound } from './proxy/outbound.js';
import { createWorkloadPool } from './proxy/pool.js';
import { explicitSourceBinding, localWorkloadIps, podConnector, transparentSourceBinding } from './proxy/source-bind.js';
import { handleSocks5 } from './proxy/socks5.js';

export type ZtunnelOptions = Pick<
  ZtunnelConfig,
  'nodeName' | 'captureMode' | 'listenAddress' | 'outboundPort' | 'inboundPlaintextPort' | 'hbonePort' | 'socks5Port' | 'trustDomain'
> &
  Partial<Pick<ZtunnelConfig, 'xdsDialect' | 'dnsProxy' | 'dnsPort' | 'dnsAddress' | 'dnsUpstream' | 'dnsResolvConf' | 'clusterDomain'>> & {
  logger: Logger;
  sign: CertificateSigner;
  /** Replaces key generation (tests). */
  generateKeyAndCsr?: (identity: string) => Promise<{ keyPem: string; csrPem: string }>;
  /** Called after each committed model change (transparent mode: capture rules). */
  onModelChange?: (change: ModelChange) => void;
  /** SOCKS5 clients must finish the handshake within this (default SOCKS5_HANDSHAKE_TIMEOUT_MS; tests shorten it). */
  socks5HandshakeTimeoutMs?: number;
};

export class Ztunnel {
  readonly store: ModelStore;
  readonly metrics = new TcpMetrics();
  /** Dry-run authorization results, rendered after the TCP metrics. */
  readonly rbacStats = new RbacShadowStats();
  /** istio_dns_* (rendered after the dry-run stats). */
  readonly dnsMetrics = new DnsMetrics();
  readonly certs: CertManager;
  readonly pool: HbonePool;
  readonly server: HboneServer;
  readonly tracker: ConnectionTracker;
  readonly context: ProxyContext;
  readonly #options: ZtunnelOptions;
  readonly #servers: Server[] = [];
  /** Explicit mode: HBONE listeners per local pod IP. */
  readonly #podListeners = new Map<string, Server>();
  readonly #sockets = new Set<Socket>();
  #dns: DnsServer | undefined;
  #started = false;
  #closed = false;
  #listening = false;
  /** Set once IP_TRANSPARENT upstream sockets failed (no addon, no CAP_NET_ADMIN): stop trying. */

  constructor(options: ZtunnelOptions) {
    this.#options = options;
    this.store = new ModelStore({ dialect: options.xdsDialect ?? 'envoy', nodeName: options.nodeName, trustDomain: options.trustDomain });
    const logger = options.logger;
    this.certs = new CertManager({ sign: options.sign, ...(options.generateKeyAndCsr ? { generateKeyAndCsr: options.generateKeyAndCsr } : {}) });
    this.certs.on('certificate', (e) => logger.log('cert', 'info', 'certificate issued', e));
    this.certs.on('error-retry', (e) => logger.log('cert', 'warn', 'certificate request failed', e));
    const sourceBinding =
      options.captureMode === 'transparent'
        ? transparentSourceBinding((err) =>
            logger.log('proxy', 'warn', 'cannot open tunnels from the pods\' addresses (IP_TRANSPARENT); opening them from the node address, with `forwarded` naming the pod', { error: err.message }),
          )
        : explicitSourceBinding();
    this.pool = createWorkloadPool(options.trustDomain, this.certs, sourceBinding);
    this.tracker = new ConnectionTracker(logger, this.metrics);
    const store = this.store;
    this.context = {
      trustDomain: options.trustDomain,
      model: () => store.model,
      endpoints: new RoundRobin(),
      pool: this.pool,
      certs: this.certs,
      tracker: this.tracker,
      logger,
      rbacStats: this.rbacStats,
      connectTcp: (host, port) => connect({ host, port, allowHalfOpen: true, noDelay: true }),
      connectToPod: podConnector({
        transparent: options.captureMode === 'transparent',
        isLocalWorkload: (ip) => localWorkloadIps(store.model).has(ip),
        onUnavailable: (err) => logger.log('proxy', 'warn', 'cannot preserve client source addresses; connecting to pods from the node address', { error: err.message }),
      }),
      sourceBinding,
    };
    this.server = new HboneServer({
      trustDomain: options.trustDomain,
      credentialsFor: (local) => serverCredentialsFor(this.context, local),
      onTunnel: (tunnel) => handleInboundTunnel(this.context, tunnel),
    });
    store.on('change', (change: ModelChange) => this.#onChange(change));
  }

  get ready(): boolean {
    return this.#listening && this.store.synced && this.certs.ready;
  }

  async start(): Promise<void> {
    if (this.#closed) throw new MeshError('ZTUNNEL_ERR_CLOSED', 'ztunnel was closed');
    if (this.#started) return;
    this.#started = true;
    const o = this.#options;
    if (o.captureMode === 'transparent') {
      await this.#listen((s) => this.#onOutbound(s), { transparent: true, host: TPROXY_LISTEN_ADDRESS, port: o.outboundPort });
      await this.#listen((s) => this.server.handle(s), { transparent: true, host: TPROXY_LISTEN_ADDRESS, port: o.hbonePort });
      await this.#listen((s) => handleInboundPlaintext(this.context, s), { transparent: true, host: TPROXY_LISTEN_ADDRESS, port: o.inboundPlaintextPort });
    } else {
      await this.#listen((s) => handleSocks5(this.context, s, o.socks5HandshakeTimeoutMs), { transparent: false, host: o.listenAddress, port: o.socks5Port });
      await this.#reconcilePodListeners();
    }
    if (o.dnsProxy && o.dnsPort !== undefined) {
      const dns = { captureMode: o.captureMode, listenAddress: o.dnsAddress ?? o.listenAddress, port: o.dnsPort, clusterDomain: o.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN, upstream: o.dnsUpstream, resolvConf: o.dnsResolvConf };
      this.#dns = await startDnsProxy(dns, () => this.store.model, this.dnsMetrics, (level, msg, fields) => o.logger.log('dns', level, msg, fields));
    }
    this.#listening = true;
  }

  /** Bound addresses, for tests and logs. */
  addresses(): Array<{ address: string; port: number }> {
    return [...this.#servers, ...this.#podListeners.values()].map((s) => {
      const a = s.address() as AddressInfo;
      return { address: a.address, port: a.port };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#servers, ...this.#podListeners.values()]) s.close();
    await this.#dns?.close();
    await this.pool.close();
    await this.server.close();
    this.certs.close();
  }

  destroy(): void {
    this.#closed = true;
    for (const s of [...this.#servers, ...this.#podListeners.values()]) s.close();
    for (const socket of this.#sockets) socket.destroy();
    this.#dns?.destroy();
    this.pool.destroy();
    this.server.destroy();
    this.certs.destroy();
  }

  /**
   * Hands an accepted socket to its handler. Whatever a peer sends, a handler's failure costs
   * that connection only: it is logged and the socket reset, and the process serves on.
   */
  #serve(socket: Socket, onSocket: (socket: Socket) => void | Promise<void>, port: number): void {
    const failed = (err: unknown) => {
      this.#options.logger.log('proxy', 'error', 'connection handler failed', { port, 'src.addr': socket.remoteAddress, error: (err as Error)?.message ?? String(err) });
      socket.on('error', () => undefined);
      socket.destroy();
    };
    try {
      const pending = onSocket(socket);
      if (pending) pending.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  #onOutbound(socket: Socket): Promise<void> {
    // Under TPROXY the accepted socket's local address:port is the original destination and the
    // remote address is the pod (TPROXY does not rewrite packets).
    return handleOutbound(this.context, socket, {
      src: { ip: normalizeIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 },
      dst: { ip: normalizeIp(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
    });
  }

  async #listen(onSocket: (socket: Socket) => void | Promise<void>, where: { transparent: boolean; host: string; port: number }): Promise<Server> {
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      this.#serve(socket, onSocket, where.port);
    });
    if (where.transparent) await listenTransparent(server, { host: where.host, port: where.port });
    else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(where.port, where.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    this.#servers.push(server);
    return server;
  }

  #onChange(change: ModelChange): void {
    const { model, previous } = change;
    this.certs.setIdentities(localIdentities(model));
    if (model.listeners !== previous.listeners) {
      if (this.#options.captureMode === 'explicit' && this.#started) void this.#reconcilePodListeners();
      this.#recheckLiveConnections();
    }
    this.#options.onModelChange?.(change);
  }

  /** A policy change re-checks live inbound connections and closes those now denied. */
  #recheckLiveConnections(): void {
    const model = this.store.model;
    for (const conn of this.tracker.live()) {
      const authz = conn.record.authz;
      if (!authz) continue;
      const decision = recheck(model, authz);
      if (!decision.allowed) conn.abort(`connection closed due to policy change: ${decision.reason}`, decision.policy);
    }
  }

  async #reconcilePodListeners(): Promise<void> {
    const wanted = new Set(localWorkloads(this.store.model).map((w) => w.ip));
    for (const [ip, server] of this.#podListeners) {
      if (wanted.has(ip)) continue;
      server.close();
      this.#podListeners.delete(ip);
    }
    for (const ip of wanted) {
      if (this.#podListeners.has(ip) || this.#closed) continue;
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#serve(socket, (s) => this.server.handle(s), this.#options.hbonePort));
      this.#podListeners.set(ip, server);
      await new Promise<void>((resolve) => {
        server.once('error', (err) => {
          this.#options.logger.log('proxy', 'error', 'cannot listen for HBONE on a pod address', { address: `${ip}:${this.#options.hbonePort}`, error: err.message });
          this.#podListeners.delete(ip);
          resolve();
        });
        server.listen(this.#options.hbonePort, ip, () => resolve());
      });
    }
  }
}
