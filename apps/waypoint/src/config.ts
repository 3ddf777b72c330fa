/**
 * The waypoint's configuration: parsed once from argv and the environment (zod), then passed
 * down; nothing else reads argv or the environment. Flags win over environment variables.
 */
import { z } from 'zod';
import { isLoopbackAddress } from '@mesh/admin-access';
import { parseCommandLine, type ParsedCommandLine, portField, hostPortField, logLevelField } from '@mesh/cli-config';
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki';

export const ADMIN_PORT = 15000;
export const METRICS_PORT = 15020;
export const READINESS_PORT = 15021;
export const DEFAULT_XDS_ADDRESS = '127.0.0.1:15012';
export const CERT_TTL_SECONDS = 24 * 3600;

export const HELP_TEXT = `Usage: waypoint --node-name <node> --pod-name <pod> --namespace <ns> [options]

The L7 proxy of the mesh: receives HBONE only (15008), applies L7 authorization and,
for traffic addressed to a Service, HTTPRoute routing and load balancing, then re-originates
HBONE to the chosen pod. Configured by istiod-lite over xDS like ztunnel.

Options (environment variable in brackets):
  --node-name <name>        (required) [NODE_NAME] Node the waypoint pod runs on.
  --pod-name <name>         (required) [POD_NAME] The waypoint's pod (labelled
                            gateway.networking.k8s.io/gateway-name: <gateway>).
  --namespace <ns>          (required) [POD_NAMESPACE] The pod's (and Gateway's) namespace.
  --pod-ip <ip>             [POD_IP] The pod's IP, for the xDS node id.
  --xds-address <host:port> [XDS_ADDRESS] istiod-lite's ADS (and CA). Default ${DEFAULT_XDS_ADDRESS}
  --ca-address <host:port>  [CA_ADDRESS] CA address, when not the xDS one.
  --xds-protocol <p>        [XDS_PROTOCOL] delta (DeltaAggregatedResources: only what changed is
                            sent) or sotw (StreamAggregatedResources). Default delta
  --bootstrap-dir <dir>     [BOOTSTRAP_DIR] The credential istiod-lite issues the waypoint's
                            Gateway (<state-dir>/waypoints/<namespace>/<gateway>): mTLS to
                            xDS and the CA.
  --token-file <path>       [TOKEN_FILE] Instead: the pod's projected service-account token
                            (audience istio-ca), sent as authorization: Bearer to xDS and the
                            CA (istiod-lite --config-source kubernetes); read again at each use.
  --ca-root-cert <path>     [CA_ROOT_CERT] The mesh root certificate, with --token-file.
  --listen-address <ip>     [LISTEN_ADDRESS] HBONE (15008), metrics (15020) and readiness (15021)
                            bind here. Default 0.0.0.0
  --admin-address <ip>      [ADMIN_ADDRESS] The admin API (config, certificate, stats) binds here;
                            must be a loopback address: the pod's own, for its operator only.
                            Default 127.0.0.1
  --admin-socket <path>     [ADMIN_SOCKET] Also serve the admin API on this Unix socket, owner-only
                            (0600).
  --hbone-port <port>       Overrides the connect_terminate port from LDS (0 = any; tests).
  --admin-port <port>       Default ${ADMIN_PORT}      --readiness-port <port>  Default ${READINESS_PORT}
  --metrics-port <port>     Default ${METRICS_PORT} (/stats/prometheus and /metrics, read-only)
  --trust-domain <td>       [TRUST_DOMAIN] Default ${DEFAULT_TRUST_DOMAIN}
  --log-level <level>       [LOG_LEVEL] debug, info, warn, error. Default info
  -h, --help                Show this help.
`;

const port = portField;
const hostPort = hostPortField;

export const WaypointConfigSchema = z.object({
  nodeName: z.string({ error: 'is required (--node-name or NODE_NAME)' }).min(1),
  podName: z.string({ error: 'is required (--pod-name or POD_NAME)' }).min(1),
  namespace: z.string({ error: 'is required (--namespace or POD_NAMESPACE)' }).min(1),
  podIp: z.string().min(1).optional(),
  xdsAddress: hostPort.default(DEFAULT_XDS_ADDRESS),
  caAddress: hostPort.optional(),
  xdsProtocol: z.enum(['delta', 'sotw']).default('delta'),
  bootstrapDir: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  caRootCert: z.string().min(1).optional(),
  listenAddress: z.string().min(1).default('0.0.0.0'),
  adminAddress: z.string().min(1).refine(isLoopbackAddress, 'must be a loopback address (127.0.0.0/8 or ::1): the admin API is for the operator only').default('127.0.0.1'),
  adminSocket: z.string().min(1).optional(),
  hbonePort: port.optional(),
  adminPort: port.default(ADMIN_PORT),
  readinessPort: port.default(READINESS_PORT),
  metricsPort: port.default(METRICS_PORT),
  trustDomain: z.string().regex(/^[a-z0-9._-]+$/).default(DEFAULT_TRUST_DOMAIN),
  logLevel: logLevelField,
});

export type WaypointConfig = z.infer<typeof WaypointConfigSchema>;

const FLAGS: Record<string, keyof WaypointConfig> = {
  '--node-name': 'nodeName',
  '--pod-name': 'podName',
  '--namespace': 'namespace',
  '--pod-ip': 'podIp',
  '--xds-address': 'xdsAddress',
  '--ca-address': 'caAddress',
  '--xds-protocol': 'xdsProtocol',
  '--bootstrap-dir': 'bootstrapDir',
  '--token-file': 'tokenFile',
  '--ca-root-cert': 'caRootCert',
  '--listen-address': 'listenAddress',
  '--admin-address': 'adminAddress',
  '--admin-socket': 'adminSocket',
  '--hbone-port': 'hbonePort',
  '--admin-port': 'adminPort',
  '--readiness-port': 'readinessPort',
  '--metrics-port': 'metricsPort',
  '--trust-domain': 'trustDomain',
  '--log-level': 'logLevel',
};
const ENV: Record<string, keyof WaypointConfig> = {
  NODE_NAME: 'nodeName',
  POD_NAME: 'podName',
  POD_NAMESPACE: 'namespace',
  POD_IP: 'podIp',
  XDS_ADDRESS: 'xdsAddress',
  CA_ADDRESS: 'caAddress',
  XDS_PROTOCOL: 'xdsProtocol',
  BOOTSTRAP_DIR: 'bootstrapDir',
  TOKEN_FILE: 'tokenFile',
  CA_ROOT_CERT: 'caRootCert',
  LISTEN_ADDRESS: 'listenAddress',
  ADMIN_ADDRESS: 'adminAddress',
  ADMIN_SOCKET: 'adminSocket',
  TRUST_DOMAIN: 'trustDomain',
  LOG_LEVEL: 'logLevel',
};

export type ParsedArgs = ParsedCommandLine<WaypointConfig>;

const COMMAND_LINE = { command: 'waypoint', errorCode: 'WAYPOINT_ERR_CONFIG', schema: WaypointConfigSchema, flags: FLAGS, env: ENV };

export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedArgs {
  return parseCommandLine(COMMAND_LINE, argv, env);
}
