/**
 * Wiring of the DNS proxy into ztunnel: the server on `<listen address>:<dns port>` reading the
 * current model, forwarding to the configured upstreams, one `dns` log line per query.
 *
 * Where it listens is where the capture plan delivers (@mesh/netfilter `dns`: pods' port-53
 * traffic DNATed to the node address and this port; conntrack gives the answers the original
 * resolver's address back). Transparent mode answers only local pods and the node itself
 * (so the underlay cannot use a node as an open resolver); explicit mode answers anyone on its
 * address, since there clients have no pod address of their own.
 */
import { isLoopbackAddress } from '@mesh/admin-access';
import type { RuntimeModel } from '@mesh/ztunnel-plan';
import { DnsForwarder, upstreamsFrom } from './forwarder.js';
import type { DnsMetrics } from './metrics.js';
import { DnsServer } from './server.js';
import { dnsClientOf, dnsTableOf } from './table.js';

export interface DnsProxyOptions {
  readonly captureMode: 'transparent' | 'explicit';
  readonly listenAddress: string;
  readonly port: number;
  readonly clusterDomain: string;
  readonly upstream?: readonly string[] | undefined;
  readonly resolvConf?: string | undefined;
}

/** How the proxy logs: ztunnel passes its logger's `dns` scope (kept this narrow so the logger can change underneath). */
export type DnsLog = (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>) => void;

/** Starts the DNS proxy; a port already taken is logged and DNS left off (the proxy serves on). */
export async function startDnsProxy(options: DnsProxyOptions, model: () => RuntimeModel, metrics: DnsMetrics, log: DnsLog): Promise<DnsServer | undefined> {
  const upstreams = upstreamsFrom({ upstream: options.upstream, resolvConf: options.resolvConf });
  const self = options.listenAddress;
  const server = new DnsServer({
    host: options.listenAddress,
    port: options.port,
    table: () => dnsTableOf(model(), options.clusterDomain),
    clientOf: (ip) => dnsClientOf(model(), ip),
    forwarder: new DnsForwarder({ upstreams }),
    metrics,
    onQuery: (entry) => log('info', 'dns request', { ...entry }),
    ...(options.captureMode === 'transparent' ? { servesUnknown: (ip: string) => ip === self || isLoopbackAddress(ip) } : {}),
  });
  try {
    await server.start();
  } catch (err) {
    server.destroy();
    log('error', 'cannot listen for DNS; the DNS proxy is off', { address: `${options.listenAddress}:${options.port}`, error: (err as Error).message });
    return undefined;
  }
  log('info', 'DNS proxy listening', { address: `${options.listenAddress}:${server.udpAddress().port}`, protocols: ['udp', 'tcp'], upstreams: upstreams.map((u) => `${u.address}:${u.port}`) });
  return server;
}
