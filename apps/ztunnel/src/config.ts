/**
 * ztunnel's configuration: parsed once from argv and the environment (zod), then passed down
 * (nothing else reads argv or the environment). Flags win over environment variables.
 */
import { z } from 'zod';
import { isLoopbackAddress } from '@mesh/admin-access';
import { parseCommandLine, type ParsedCommandLine, portField, hostPortField, logLevelField } from '@mesh/cli-config';
import { ZTUNNEL_INBOUND_PLAINTEXT_PORT, ZTUNNEL_OUTBOUND_PORT } from '@mesh/envoy-config';
import { HBONE_PORT } from '@mesh/hbone-core';
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki';
import { DEFAULT_RESOLV_CONF } from './dns/forwarder.js';
import { DEFAULT_CLUSTER_DOMAIN } from './dns/plan.js';
import { DNS_PROXY_PORT } from './dns/server.js';

export const ADMIN_PORT = 15000;
export const METRICS_PORT = 15020;
export const READINESS_PORT = 15021;
export const SOCKS5_PORT = 15080;
export const DEFAULT_XDS_ADDRESS = '127.0.0.1:15012';
/** The admin API's address when --listen-address is not a loopback address: the node's loopback. */
export const DEFAULT_ADMIN_ADDRESS = '127.0.0.1';
export const CERT_TTL_SECONDS = 24 * 3600;

export const HELP_TEXT = `Usage: ztunnel --node-name <node> [options]

The per-node L4 proxy of the mesh: takes pod traffic (transparently via TPROXY, or explicitly
via SOCKS5), carries it between nodes in HBONE tunnels (mTLS + HTTP/2 CONNECT on 15008),
authorizes it at the destination. Its admin API (configuration, certificates, connections, log
levels) listens on the node's loopback only, never where a pod can reach it; metrics and
readiness are read-only and listen on --listen-address for scrapers and probes.

Options (environment variable in brackets):
  --node-name <name>          (required) [NODE_NAME] The node this ztunnel serves.
  --xds-address <host:port>   [XDS_ADDRESS] istiod-lite's ADS (and CA) address. Default ${DEFAULT_XDS_ADDRESS}
  --ca-address <host:port>    [CA_ADDRESS] CA address, when not the xDS one.
  --xds-protocol <p>          [XDS_PROTOCOL] delta (DeltaAggregatedResources: only what changed
                              is sent) or sotw (StreamAggregatedResources). Default delta
  --bootstrap-dir <dir>       [BOOTSTRAP_DIR] Node bootstrap credential (cert.pem, key.pem,
                              root-cert.pem) from istiod-lite's state dir (nodes/<node>/): mTLS
                              to xDS and the CA. Without it (or --token-file), xDS is plaintext
                              and no CA is used.
  --token-file <path>         [TOKEN_FILE] Projected service-account token (audience istio-ca),
                              e.g. /var/run/secrets/tokens/istio-token: sent as authorization:
                              Bearer on every CA call and xDS stream (istiod-lite
                              --config-source kubernetes checks it with a TokenReview), read
                              again each time as the kubelet rotates it. Needs --ca-root-cert
                              (or --bootstrap-dir's root-cert.pem) to check istiod-lite.
  --ca-root-cert <path>       [CA_ROOT_CERT] The mesh root certificate, with --token-file.
  --capture-mode <mode>       [CAPTURE_MODE] transparent (TPROXY, root, node netns) or explicit
                              (SOCKS5 on --listen-address, per-pod loopback addresses). Default explicit
  --capture-netns <name>      [CAPTURE_NETNS] In transparent mode, keep the node's capture plan
                              (iptables/ipset/ip rule, @mesh/netfilter) applied in this network
                              namespace (ztunnel's own, by name) for the local pods as config
                              changes. The rules stay when ztunnel stops, so captured traffic
                              fails closed (TPROXY finds no listener and drops) instead of
                              bypassing the mesh; a restarted ztunnel takes over.
  --remove-capture-on-exit    Remove those rules when ztunnel stops (tear-down).
  --listen-address <ip>       [LISTEN_ADDRESS] Metrics, readiness and SOCKS5 bind here. Default 127.0.0.1
  --admin-address <ip>        [ADMIN_ADDRESS] The admin API binds here; must be a loopback address.
                              Default: --listen-address when that is loopback (explicit mode's
                              per-node 127.x), else ${DEFAULT_ADMIN_ADDRESS}
  --admin-socket <path>       [ADMIN_SOCKET] Also serve the admin API on this Unix socket, owner-only
                              (0600), e.g. /var/run/ztunnel/admin.sock. meshctl uses it when it can
                              open it.
  --admin-port <port>         Default ${ADMIN_PORT}      --readiness-port <port>  Default ${READINESS_PORT}
  --metrics-port <port>       Default ${METRICS_PORT} (/metrics, Prometheus text)
  --outbound-port <port>      Default ${ZTUNNEL_OUTBOUND_PORT}      --inbound-plaintext-port Default ${ZTUNNEL_INBOUND_PLAINTEXT_PORT}
  --hbone-port <port>         Default ${HBONE_PORT}      --socks5-port <port>     Default ${SOCKS5_PORT}
  --trust-domain <td>         [TRUST_DOMAIN] Default ${DEFAULT_TRUST_DOMAIN}
  --dns-proxy <true|false>    [DNS_PROXY] Answer pods' DNS queries for Service names from the mesh
                              config and forward the rest to the node's resolver, on UDP and TCP
                              --dns-port at --listen-address (transparent mode: the capture rules
                              send pods' port-53 traffic there). Default true (as Istio since 1.25)
  --dns-port <port>           Default ${DNS_PROXY_PORT}
  --dns-address <ip>          [DNS_ADDRESS] Where the DNS proxy listens (and, in transparent mode, where
                              the capture rules send pods' DNS: a node address, not loopback).
                              Default --listen-address
  --dns-upstream <ip[:port],…> [DNS_UPSTREAM] Resolvers for names that are not the mesh's.
                              Default: the nameservers of --dns-resolv-conf
  --dns-resolv-conf <path>    [DNS_RESOLV_CONF] Default ${DEFAULT_RESOLV_CONF} (ztunnel's own)
  --cluster-domain <domain>   [CLUSTER_DOMAIN] Service FQDNs end in svc.<domain>. Default ${DEFAULT_CLUSTER_DOMAIN}
  --xds-dialect <dialect>     [XDS_DIALECT] envoy: Envoy listeners, clusters and
                              endpoints (what \`meshctl proxy-config\` shows); workload: Istio's
                              workload API (Address, Authorization), the same for every node and
                              far smaller at scale (\`meshctl ztunnel-config\` shows it). Both
                              compile into one runtime model, so traffic is handled alike.
                              Default envoy
  --log-level <level>         [LOG_LEVEL] debug, info, warn, error. Default info
  -h, --help                  Show this help.
`;

const port = portField;
const hostPort = hostPortField;

export const ZtunnelConfigSchema = z.object({
  nodeName: z.string({ error: 'is required (--node-name or NODE_NAME)' }).min(1),
  xdsAddress: hostPort.default(DEFAULT_XDS_ADDRESS),
  caAddress: hostPort.optional(),
  xdsProtocol: z.enum(['delta', 'sotw']).default('delta'),
  bootstrapDir: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  caRootCert: z.string().min(1).optional(),
  captureMode: z.enum(['transparent', 'explicit']).default('explicit'),
  captureNetns: z.string().min(1).optional(),
  removeCaptureOnExit: z.boolean().default(false),
  listenAddress: z.string().min(1).default('127.0.0.1'),
  adminAddress: z.string().min(1).refine(isLoopbackAddress, 'must be a loopback address (127.0.0.0/8 or ::1): the admin API is for the node and its operator only').optional(),
  adminSocket: z.string().min(1).optional(),
  adminPort: port.default(ADMIN_PORT),
  readinessPort: port.default(READINESS_PORT),
  metricsPort: port.default(METRICS_PORT),
  outboundPort: port.default(ZTUNNEL_OUTBOUND_PORT),
  inboundPlaintextPort: port.default(ZTUNNEL_INBOUND_PLAINTEXT_PORT),
  hbonePort: port.default(HBONE_PORT),
  socks5Port: port.default(SOCKS5_PORT),
  trustDomain: z.string().regex(/^[a-z0-9._-]+$/).default(DEFAULT_TRUST_DOMAIN),
  logLevel: logLevelField,
  xdsDialect: z.enum(['envoy', 'workload']).default('envoy'),
  dnsProxy: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  dnsPort: port.default(DNS_PROXY_PORT),
  dnsAddress: z.string().min(1).optional(),
  dnsUpstream: z.string().min(1).transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)).optional(),
  dnsResolvConf: z.string().min(1).default(DEFAULT_RESOLV_CONF),
  clusterDomain: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/, 'must be a DNS domain such as cluster.local').default(DEFAULT_CLUSTER_DOMAIN),
});

export type ZtunnelConfig = z.infer<typeof ZtunnelConfigSchema>;

const FLAGS: Record<string, keyof ZtunnelConfig> = {
  '--node-name': 'nodeName',
  '--xds-address': 'xdsAddress',
  '--ca-address': 'caAddress',
  '--xds-protocol': 'xdsProtocol',
  '--bootstrap-dir': 'bootstrapDir',
  '--token-file': 'tokenFile',
  '--ca-root-cert': 'caRootCert',
  '--capture-netns': 'captureNetns',
  '--capture-mode': 'captureMode',
  '--listen-address': 'listenAddress',
  '--admin-address': 'adminAddress',
  '--admin-socket': 'adminSocket',
  '--admin-port': 'adminPort',
  '--readiness-port': 'readinessPort',
  '--metrics-port': 'metricsPort',
  '--outbound-port': 'outboundPort',
  '--inbound-plaintext-port': 'inboundPlaintextPort',
  '--hbone-port': 'hbonePort',
  '--socks5-port': 'socks5Port',
  '--trust-domain': 'trustDomain',
  '--log-level': 'logLevel',
  '--xds-dialect': 'xdsDialect',
  '--dns-proxy': 'dnsProxy',
  '--dns-port': 'dnsPort',
  '--dns-address': 'dnsAddress',
  '--dns-upstream': 'dnsUpstream',
  '--dns-resolv-conf': 'dnsResolvConf',
  '--cluster-domain': 'clusterDomain',
};
const BOOLEAN_FLAGS: Record<string, keyof ZtunnelConfig> = { '--remove-capture-on-exit': 'removeCaptureOnExit' };
const ENV: Record<string, keyof ZtunnelConfig> = {
  NODE_NAME: 'nodeName',
  XDS_ADDRESS: 'xdsAddress',
  CA_ADDRESS: 'caAddress',
  XDS_PROTOCOL: 'xdsProtocol',
  BOOTSTRAP_DIR: 'bootstrapDir',
  TOKEN_FILE: 'tokenFile',
  CA_ROOT_CERT: 'caRootCert',
  CAPTURE_MODE: 'captureMode',
  CAPTURE_NETNS: 'captureNetns',
  LISTEN_ADDRESS: 'listenAddress',
  ADMIN_ADDRESS: 'adminAddress',
  ADMIN_SOCKET: 'adminSocket',
  TRUST_DOMAIN: 'trustDomain',
  LOG_LEVEL: 'logLevel',
  XDS_DIALECT: 'xdsDialect',
  DNS_PROXY: 'dnsProxy',
  DNS_ADDRESS: 'dnsAddress',
  DNS_UPSTREAM: 'dnsUpstream',
  DNS_RESOLV_CONF: 'dnsResolvConf',
  CLUSTER_DOMAIN: 'clusterDomain',
};

export type ParsedArgs = ParsedCommandLine<ZtunnelConfig>;

const COMMAND_LINE = { command: 'ztunnel', errorCode: 'ZTUNNEL_ERR_CONFIG', schema: ZtunnelConfigSchema, flags: FLAGS, booleanFlags: BOOLEAN_FLAGS, env: ENV };

export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedArgs {
  return parseCommandLine(COMMAND_LINE, argv, env);
}

/** Where the admin API listens: --admin-address, else --listen-address when loopback, else the node's loopback. */
export function adminAddressOf(config: Pick<ZtunnelConfig, 'adminAddress' | 'listenAddress'>): string {
  return config.adminAddress ?? (isLoopbackAddress(config.listenAddress) ? config.listenAddress : DEFAULT_ADMIN_ADDRESS);
}
