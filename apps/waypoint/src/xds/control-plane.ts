/**
 * The waypoint's link to istiod-lite: mTLS with its node's bootstrap credential (the server
 * checked by its SPIFFE identity), the ADS subscription (CDS, EDS, LDS, RDS; each update
 * compiled before the ACK, NACK with the reason otherwise), and the CA signer. The node id
 * `waypoint~<ip>~<pod>~<ns>.svc.cluster.local` tells istiod-lite which Gateway's config to send.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshError } from '@mesh/errors';
import { spiffeServerIdentityCheck } from '@mesh/pki';
import { CaClient, XdsClient, shortTypeName, type XdsNack, type XdsNode, type XdsResourcesUpdate } from '@mesh/xds';
import { CERT_TTL_SECONDS } from '../config.js';
import { SUPPORTED_TYPE_URLS, type ModelStore } from '../config/store.js';
import type { CertificateSigner } from '../identity/certificate.js';
import type { Logger } from '../log.js';

export const CA_REQUEST_DEADLINE_MS = 10_000;

export function waypointNode(podName: string, namespace: string, nodeName: string, ip = ''): XdsNode {
  return { id: `waypoint~${ip}~${podName}~${namespace}.svc.cluster.local`, metadata: { NODE_NAME: nodeName }, user_agent_name: 'waypoint-ts' };
}

export async function controlPlaneCredentials(bootstrapDir: string | undefined, trustDomain: string): Promise<grpc.ChannelCredentials> {
  if (!bootstrapDir) return grpc.credentials.createInsecure();
  let files: Buffer[];
  try {
    files = await Promise.all(['root-cert.pem', 'key.pem', 'cert.pem'].map((f) => readFile(join(bootstrapDir, f))));
  } catch (cause) {
    throw new MeshError('WAYPOINT_ERR_BOOTSTRAP', `cannot read the bootstrap credential in ${bootstrapDir}`, {
      cause,
      hint: "point --bootstrap-dir at istiod-lite's <state-dir>/nodes/<the waypoint pod's node>",
    });
  }
  const [root, key, cert] = files as [Buffer, Buffer, Buffer];
  return grpc.credentials.createSsl(root, key, cert, {
    checkServerIdentity: spiffeServerIdentityCheck([{ trustDomain, namespace: 'istio-system', serviceAccount: 'istiod' }]),
  });
}

export function startXds(options: { target: string; credentials: grpc.ChannelCredentials; node: XdsNode; store: ModelStore; logger: Logger; onApplied: () => void }): XdsClient {
  const { store, logger } = options;
  const client = new XdsClient({
    target: options.target,
    node: options.node,
    credentials: options.credentials,
    typeUrls: SUPPORTED_TYPE_URLS,
    validate: (update: XdsResourcesUpdate) => store.validate(update.typeUrl, update.resources),
  });
  client.on('resources', (update: XdsResourcesUpdate) => {
    store.commit(update.typeUrl);
    logger.log('xds', 'info', 'config applied', { type: shortTypeName(update.typeUrl), version: update.version, resources: update.resources.length });
    options.onApplied();
  });
  client.on('nack', (nack: XdsNack) => logger.log('xds', 'warn', 'config rejected (NACK)', { type: shortTypeName(nack.typeUrl), version: nack.version, reason: nack.message }));
  client.on('connected', () => logger.log('xds', 'info', 'connected to the control plane', { target: options.target }));
  client.on('disconnected', (err: Error) => logger.log('xds', 'warn', 'control plane stream lost; serving the last config', { error: err.message }));
  return client.start();
}

/** A signer through istiod-lite's CA, asking for the waypoint's identity on behalf of its pod. */
export function caSigner(target: string, credentials: grpc.ChannelCredentials): { sign: CertificateSigner; close(): void } {
  const client = new CaClient(target, credentials);
  return {
    sign: ({ identity, csrPem }) =>
      client.createCertificate({ csrPem, impersonatedIdentity: identity, validitySeconds: CERT_TTL_SECONDS, deadlineMs: CA_REQUEST_DEADLINE_MS }),
    close: () => client.close(),
  };
}
