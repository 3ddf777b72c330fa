/**
 * istiod-lite's configuration: parsed once from argv (zod), then passed down (conventions §11).
 */
import { z } from 'zod';
import { parseCommandLine, validateConfig, type ParsedCommandLine } from '@mesh/cli-config';

/** Plaintext ADS, for local development (Istio's 15010). */
export const XDS_PLAINTEXT_PORT = 15010;
/** mTLS ADS and the CA (Istio's 15012). */
export const XDS_TLS_PORT = 15012;
/** Debug HTTP: /debug/syncz, /debug/config_dump, /ready (Istio's 15014). */
export const DEBUG_PORT = 15014;
export const DEFAULT_STATE_DIR = './.state/istiod';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_LISTEN_ADDRESS = '0.0.0.0';

export const HELP_TEXT = `Usage: istiod-lite --config-dir <dir> [options]

The mesh control plane: watches a directory of Kubernetes-style manifests, serves Envoy v3
configuration to every ztunnel over gRPC ADS, and signs workload certificates.

Options:
  --config-dir <dir>      (required) Directory of *.yaml/*.yml manifests, read recursively and
                          watched; a change is pushed to connected proxies within ~100 ms. A file
                          with errors is reported and its last good content stays in force.
  --state-dir <dir>       Where the root CA (root-cert.pem, root-key.pem 0600), istiod's serving
                          certificate and each node's bootstrap credential
                          (nodes/<node>/{cert.pem,key.pem,root-cert.pem}) are kept; created on
                          first start. Default: ${DEFAULT_STATE_DIR}
  --xds-port <port>       Plaintext ADS for local development; the node is taken from the
                          request's NODE_NAME, unauthenticated. 0 picks a free port.
                          Default: ${XDS_PLAINTEXT_PORT}
  --xds-tls-port <port>   mTLS ADS and the CA (IstioCertificateService/CreateCertificate); clients
                          authenticate with their node bootstrap certificate. Default: ${XDS_TLS_PORT}
  --debug-port <port>     Debug HTTP: /debug/syncz, /debug/config_dump?proxyID=<id>, /ready.
                          Default: ${DEBUG_PORT}
  --trust-domain <td>     SPIFFE trust domain of the mesh. Default: ${DEFAULT_TRUST_DOMAIN}
  --listen-address <ip>   Address all three servers bind. Default: ${DEFAULT_LISTEN_ADDRESS}
  -h, --help              Show this help.
`;

const port = z.coerce.number().int().min(0).max(65_535);

export const IstiodConfigSchema = z.object({
  configDir: z.string({ error: 'is required (the directory of mesh manifests)' }).min(1, 'must not be empty'),
  stateDir: z.string().min(1).default(DEFAULT_STATE_DIR),
  xdsPort: port.default(XDS_PLAINTEXT_PORT),
  xdsTlsPort: port.default(XDS_TLS_PORT),
  debugPort: port.default(DEBUG_PORT),
  trustDomain: z
    .string()
    .regex(/^[a-z0-9._-]+$/, 'a trust domain uses lower-case letters, digits, ".", "-" and "_"')
    .default(DEFAULT_TRUST_DOMAIN),
  listenAddress: z.string().min(1).default(DEFAULT_LISTEN_ADDRESS),
});

export type IstiodConfig = z.infer<typeof IstiodConfigSchema>;

const FLAG_TO_KEY: Record<string, keyof IstiodConfig> = {
  '--config-dir': 'configDir',
  '--state-dir': 'stateDir',
  '--xds-port': 'xdsPort',
  '--xds-tls-port': 'xdsTlsPort',
  '--debug-port': 'debugPort',
  '--trust-domain': 'trustDomain',
  '--listen-address': 'listenAddress',
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
