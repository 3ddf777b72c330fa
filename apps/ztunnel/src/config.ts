/**
 * ztunnel's configuration: parsed once from argv and the environment (zod), then passed down
 * (conventions §11). Flags win over environment variables.
 */
import { z } from 'zod';
import { parseCommandLine, type ParsedCommandLine } from '@mesh/cli-config';

export const ADMIN_PORT = 15000;
export const OUTBOUND_PORT = 15001;
export const INBOUND_PLAINTEXT_PORT = 15006;
export const HBONE_PORT = 15008;
export const METRICS_PORT = 15020;
export const READINESS_PORT = 15021;
export const SOCKS5_PORT = 15080;
export const DEFAULT_XDS_ADDRESS = '127.0.0.1:15012';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
/** TPROXY's `--on-ip`: the capture listeners bind here (netfilter plan). */
export const CAPTURE_LISTEN_ADDRESS = '127.0.0.1';
export const CERT_TTL_SECONDS = 24 * 3600;

export const HELP_TEXT = `Usage: ztunnel --node-name <node> [options]

The per-node L4 proxy of the mesh: takes pod traffic (transparently via TPROXY, or explicitly
via SOCKS5), carries it between nodes in HBONE tunnels (mTLS + HTTP/2 CONNECT on 15008),
authorizes it at the destination, and serves admin/metrics on the node's loopback.

Options (environment variable in brackets):
  --node-name <name>          (required) [NODE_NAME] The node this ztunnel serves.
  --xds-address <host:port>   [XDS_ADDRESS] istiod-lite's ADS (and CA) address. Default ${DEFAULT_XDS_ADDRESS}
  --ca-address <host:port>    [CA_ADDRESS] CA address, when not the xDS one.
  --bootstrap-dir <dir>       [BOOTSTRAP_DIR] Node bootstrap credential (cert.pem, key.pem,
                              root-cert.pem) from istiod-lite's state dir (nodes/<node>/): mTLS
                              to xDS and the CA. Without it, xDS is plaintext and no CA is used.
  --capture-mode <mode>       [CAPTURE_MODE] transparent (TPROXY, root, node netns) or explicit
                              (SOCKS5 on --listen-address, per-pod loopback addresses). Default explicit
  --capture-netns <name>      [CAPTURE_NETNS] In transparent mode, keep the node's capture plan
                              (iptables/ipset/ip rule, @mesh/netfilter) applied in this network
                              namespace (ztunnel's own, by name) for the local pods as config
                              changes. The rules stay when ztunnel stops, so captured traffic
                              fails closed (TPROXY finds no listener and drops) instead of
                              bypassing the mesh; a restarted ztunnel takes over.
  --remove-capture-on-exit    Remove those rules when ztunnel stops (tear-down).
  --listen-address <ip>       [LISTEN_ADDRESS] Admin, readiness and SOCKS5 bind here (the node's
                              loopback). Default 127.0.0.1
  --admin-port <port>         Default ${ADMIN_PORT}      --readiness-port <port>  Default ${READINESS_PORT}
  --metrics-port <port>       Default ${METRICS_PORT} (/metrics, Prometheus text)
  --outbound-port <port>      Default ${OUTBOUND_PORT}      --inbound-plaintext-port Default ${INBOUND_PLAINTEXT_PORT}
  --hbone-port <port>         Default ${HBONE_PORT}      --socks5-port <port>     Default ${SOCKS5_PORT}
  --trust-domain <td>         [TRUST_DOMAIN] Default ${DEFAULT_TRUST_DOMAIN}
  --log-level <level>         [LOG_LEVEL] debug, info, warn, error. Default info
  -h, --help                  Show this help.
`;

const port = z.coerce.number().int().min(0).max(65_535);
const hostPort = z.string().regex(/^(\[[^\]]+\]|[^:\s]+):\d+$/, 'must be host:port');

export const ZtunnelConfigSchema = z.object({
  nodeName: z.string({ error: 'is required (--node-name or NODE_NAME)' }).min(1),
  xdsAddress: hostPort.default(DEFAULT_XDS_ADDRESS),
  caAddress: hostPort.optional(),
  bootstrapDir: z.string().min(1).optional(),
  captureMode: z.enum(['transparent', 'explicit']).default('explicit'),
  captureNetns: z.string().min(1).optional(),
  removeCaptureOnExit: z.boolean().default(false),
  listenAddress: z.string().min(1).default('127.0.0.1'),
  adminPort: port.default(ADMIN_PORT),
  readinessPort: port.default(READINESS_PORT),
  metricsPort: port.default(METRICS_PORT),
  outboundPort: port.default(OUTBOUND_PORT),
  inboundPlaintextPort: port.default(INBOUND_PLAINTEXT_PORT),
  hbonePort: port.default(HBONE_PORT),
  socks5Port: port.default(SOCKS5_PORT),
  trustDomain: z.string().regex(/^[a-z0-9._-]+$/).default(DEFAULT_TRUST_DOMAIN),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type ZtunnelConfig = z.infer<typeof ZtunnelConfigSchema>;

const FLAGS: Record<string, keyof ZtunnelConfig> = {
  '--node-name': 'nodeName',
  '--xds-address': 'xdsAddress',
  '--ca-address': 'caAddress',
  '--bootstrap-dir': 'bootstrapDir',
  '--capture-netns': 'captureNetns',
  '--capture-mode': 'captureMode',
  '--listen-address': 'listenAddress',
  '--admin-port': 'adminPort',
  '--readiness-port': 'readinessPort',
  '--metrics-port': 'metricsPort',
  '--outbound-port': 'outboundPort',
  '--inbound-plaintext-port': 'inboundPlaintextPort',
  '--hbone-port': 'hbonePort',
  '--socks5-port': 'socks5Port',
  '--trust-domain': 'trustDomain',
  '--log-level': 'logLevel',
};
const BOOLEAN_FLAGS: Record<string, keyof ZtunnelConfig> = { '--remove-capture-on-exit': 'removeCaptureOnExit' };
const ENV: Record<string, keyof ZtunnelConfig> = {
  NODE_NAME: 'nodeName',
  XDS_ADDRESS: 'xdsAddress',
  CA_ADDRESS: 'caAddress',
  BOOTSTRAP_DIR: 'bootstrapDir',
  CAPTURE_MODE: 'captureMode',
  CAPTURE_NETNS: 'captureNetns',
  LISTEN_ADDRESS: 'listenAddress',
  TRUST_DOMAIN: 'trustDomain',
  LOG_LEVEL: 'logLevel',
};

export type ParsedArgs = ParsedCommandLine<ZtunnelConfig>;

const COMMAND_LINE = { command: 'ztunnel', errorCode: 'ZTUNNEL_ERR_CONFIG', schema: ZtunnelConfigSchema, flags: FLAGS, booleanFlags: BOOLEAN_FLAGS, env: ENV };

export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedArgs {
  return parseCommandLine(COMMAND_LINE, argv, env);
}
