/**
 * istiod-lite's configuration: parsed once from argv (zod), then passed down; nothing else reads argv or the environment.
 */
import { z } from 'zod';
import { isLoopbackAddress } from '@mesh/admin-access';
import { durationMs, parseCommandLine, validateConfig, type ParsedCommandLine, portField } from '@mesh/cli-config';
import { DEFAULT_TRUST_DOMAIN, DEFAULT_WORKLOAD_CERT_TTL_MS } from '@mesh/pki';
import { DEFAULT_TRUSTED_NODE_ACCOUNTS } from './ca/kubernetes-identity.js';
import { DEFAULT_WAYPOINT_IMAGE, DEFAULT_WAYPOINT_XDS_ADDRESS } from './config-source/kubernetes-waypoints.js';

/** Plaintext ADS, for local development only (Istio's 15010); off unless --xds-port asks for it. */
export const XDS_PLAINTEXT_PORT = 15010;
/** mTLS ADS and the CA (Istio's 15012). */
export const XDS_TLS_PORT = 15012;
/** Debug HTTP: /debug/syncz, /debug/config_dump, /ready (Istio's 15014). */
export const DEBUG_PORT = 15014;
export const DEFAULT_STATE_DIR = './.state/istiod';
export const DEFAULT_LISTEN_ADDRESS = '0.0.0.0';
/** The operator surfaces (debug HTTP, plaintext ADS when asked for) default to loopback. */
export const DEFAULT_LOCAL_ADDRESS = '127.0.0.1';

export const HELP_TEXT = `Usage: istiod-lite --config-dir <dir> [options]
       istiod-lite --config-source kubernetes [--kubeconfig <file>] [--context <name>] [options]

The mesh control plane: watches a directory of Kubernetes-style manifests (or the Kubernetes
API), serves Envoy v3
configuration to every ztunnel over gRPC ADS, and signs workload certificates. Proxies reach it
on 15012 (mutual TLS); the debug API and plaintext ADS are for the operator, on loopback.

Options:
  --config-source <directory|kubernetes>
                          Where the mesh configuration comes from. Default: directory
  --config-dir <dir>      (required with the directory source) Directory of *.yaml/*.yml
                          manifests, read recursively and watched; a change is pushed to connected
                          proxies within ~100 ms. A file with errors is reported and its last good
                          content stays in force.
  --kubeconfig <file>     With the kubernetes source: the API server and credentials. Without it
                          (and without --context) the pod's in-cluster service account is used.
                          An object the API server accepts but the mesh cannot use is reported
                          (kind/namespace/name and field) and its last good version stays in force.
  --context <name>        With the kubernetes source: the kubeconfig context (default: its
                          current context; without --kubeconfig, $KUBECONFIG or ~/.kube/config).
  --waypoint-image <image>
                          With the kubernetes source: the image of the Deployment it makes for
                          each Gateway of class istio-waypoint. Default: ${DEFAULT_WAYPOINT_IMAGE}
  --waypoint-xds-address <host:port>
                          With the kubernetes source: istiod-lite's address as those waypoint
                          pods reach it. Default: ${DEFAULT_WAYPOINT_XDS_ADDRESS}
  --state-dir <dir>       Where the root CA (root-cert.pem, root-key.pem 0600), istiod's serving
                          certificate and each node's bootstrap credential
                          (nodes/<node>/{cert.pem,key.pem,root-cert.pem}) are kept; created on
                          first start. Default: ${DEFAULT_STATE_DIR}
  --xds-tls-port <port>   mTLS ADS and the CA (IstioCertificateService/CreateCertificate); clients
                          authenticate with their node bootstrap certificate, or with the
                          kubernetes source their projected service-account token (audience
                          istio-ca) as authorization: Bearer, checked by TokenReview. Default: ${XDS_TLS_PORT}
  --ca-trusted-node-accounts <ns/sa,…>
                          With the kubernetes source: service accounts of node proxies, which may
                          obtain certificates for the pods on their token's node
                          (ImpersonatedIdentity); every other account gets only its own identity
                          (Istio's CA_TRUSTED_NODE_ACCOUNTS). Default: ${DEFAULT_TRUSTED_NODE_ACCOUNTS.join(',')}
  --listen-address <ip>   Address the mTLS port binds. Default: ${DEFAULT_LISTEN_ADDRESS}
  --debug-port <port>     Debug HTTP: /debug/syncz, /debug/config_dump?proxyID=<id>,
                          /debug/config_problems, /debug/route_status, /ready. Default: ${DEBUG_PORT}
  --debug-address <ip>    Address the debug port binds; must be a loopback address (it lists every
                          proxy and serves any proxy's configuration). Default: ${DEFAULT_LOCAL_ADDRESS}
  --xds-port <port>       Plaintext ADS, for local development only: off unless given (Istio's
                          port is ${XDS_PLAINTEXT_PORT}; 0 picks a free one). Unauthenticated: the node
                          is whatever the caller's NODE_NAME claims.
  --xds-plaintext-address <ip>
                          Address plaintext ADS binds when on. Default: ${DEFAULT_LOCAL_ADDRESS}
                          (anything else lets every caller that reaches it read any node's config)
  --cacerts-dir <dir>     A plugged-in CA, as Istio's cacerts secret holds it: ca-cert.pem and
                          ca-key.pem (0600; the signing CA: a root, or an intermediate),
                          cert-chain.pem (its chain up to the root), root-cert.pem. Default:
                          <state-dir>/cacerts when it holds ca-key.pem; otherwise a self-signed
                          root in the state dir.
  --trust-domain <td>     SPIFFE trust domain of the mesh. Default: ${DEFAULT_TRUST_DOMAIN}
  --workload-cert-ttl <duration>
                          Lifetime of the workload certificates it signs: what a proxy asks for,
                          at most this (Istio's DEFAULT_WORKLOAD_CERT_TTL). Proxies renew at half
                          of it. e.g. 30s, 10m, 24h. Default: 24h
  -h, --help              Show this help.
`;

const port = portField;

export const CONFIG_SOURCES = ['directory', 'kubernetes'] as const;

export const IstiodConfigSchema = z
  .object({
    configSource: z.enum(CONFIG_SOURCES, { error: `must be one of ${CONFIG_SOURCES.join(', ')}` }).default('directory'),
    configDir: z.string().min(1, 'must not be empty').optional(),
    kubeconfig: z.string().min(1, 'must not be empty').optional(),
    context: z.string().min(1, 'must not be empty').optional(),
    waypointImage: z.string().min(1, 'must not be empty').optional(),
    waypointXdsAddress: z.string().regex(/^[^\s:]+:\d+$/, 'must be <host>:<port>').optional(),
    stateDir: z.string().min(1).default(DEFAULT_STATE_DIR),
    cacertsDir: z.string().min(1).optional(),
    xdsPort: port.optional(),
    xdsPlaintextAddress: z.string().min(1).default(DEFAULT_LOCAL_ADDRESS),
    xdsTlsPort: port.default(XDS_TLS_PORT),
    debugPort: port.default(DEBUG_PORT),
    debugAddress: z
      .string()
      .min(1)
      .refine(isLoopbackAddress, 'must be a loopback address (127.0.0.0/8 or ::1): the debug API is for the operator only')
      .default(DEFAULT_LOCAL_ADDRESS),
    trustDomain: z
      .string()
      .regex(/^[a-z0-9._-]+$/, 'a trust domain uses lower-case letters, digits, ".", "-" and "_"')
      .default(DEFAULT_TRUST_DOMAIN),
    listenAddress: z.string().min(1).default(DEFAULT_LISTEN_ADDRESS),
    caTrustedNodeAccounts: z
      .string()
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'each must be <namespace>/<service account>')).min(1, 'must name at least one <namespace>/<service account>'))
      .default(DEFAULT_TRUSTED_NODE_ACCOUNTS),
    workloadCertTtlMs: durationMs
      .refine((ms) => ms >= 1_000 && ms <= DEFAULT_WORKLOAD_CERT_TTL_MS, 'must be between 1s and 24h')
      .default(DEFAULT_WORKLOAD_CERT_TTL_MS),
  })
  .superRefine((config, ctx) => {
    if (config.configSource === 'directory' && config.configDir === undefined) {
      ctx.addIssue({ code: 'custom', path: ['configDir'], message: 'is required (the directory of mesh manifests)' });
    }
    if (config.configSource === 'kubernetes' && config.configDir !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['configDir'], message: 'is for the directory source; the kubernetes source reads the API server' });
    }
    if (config.configSource !== 'kubernetes' && config.caTrustedNodeAccounts.join(',') !== DEFAULT_TRUSTED_NODE_ACCOUNTS.join(',')) {
      ctx.addIssue({ code: 'custom', path: ['caTrustedNodeAccounts'], message: 'needs --config-source kubernetes (tokens are checked with the API server)' });
    }
    for (const key of ['kubeconfig', 'context', 'waypointImage', 'waypointXdsAddress'] as const) {
      if (config.configSource !== 'kubernetes' && config[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'needs --config-source kubernetes' });
    }
  });

export type IstiodConfig = z.infer<typeof IstiodConfigSchema>;

const FLAG_TO_KEY: Record<string, keyof IstiodConfig> = {
  '--config-source': 'configSource',
  '--config-dir': 'configDir',
  '--kubeconfig': 'kubeconfig',
  '--context': 'context',
  '--waypoint-image': 'waypointImage',
  '--waypoint-xds-address': 'waypointXdsAddress',
  '--state-dir': 'stateDir',
  '--cacerts-dir': 'cacertsDir',
  '--xds-port': 'xdsPort',
  '--xds-plaintext-address': 'xdsPlaintextAddress',
  '--xds-tls-port': 'xdsTlsPort',
  '--debug-port': 'debugPort',
  '--debug-address': 'debugAddress',
  '--trust-domain': 'trustDomain',
  '--listen-address': 'listenAddress',
  '--workload-cert-ttl': 'workloadCertTtlMs',
  '--ca-trusted-node-accounts': 'caTrustedNodeAccounts',
};

export type ParsedArgs = ParsedCommandLine<IstiodConfig>;

const COMMAND_LINE = { command: 'istiod-lite', errorCode: 'ISTIOD_ERR_CONFIG', schema: IstiodConfigSchema, flags: FLAG_TO_KEY };

/** Parses argv (without node and script). Throws MeshError ISTIOD_ERR_CONFIG naming every problem's flag. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  return parseCommandLine(COMMAND_LINE, argv);
}

/** Validates an assembled config (tests, embedding) with the same messages. */
export function parseConfig(raw: Record<string, unknown>): IstiodConfig {
  return validateConfig(COMMAND_LINE, raw);
}
