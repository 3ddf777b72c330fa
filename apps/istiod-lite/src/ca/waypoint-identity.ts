/**
 * How a waypoint proves which Gateway it runs for, in directory mode (apps/waypoint/ARCHITECTURE.md
 * "Identity and credentials"). istiod-lite issues each `istio-waypoint` Gateway a credential
 * (credentials.ts `WaypointCredentials`) with one URI SAN:
 *   spiffe://<td>/waypoint/<namespace>/<gateway>
 * It is not a `ns/…/sa/…` identity, so it can never serve as an HBONE certificate (peers accept
 * only workload SPIFFE IDs), and no workload certificate can carry it: the CA only issues
 * `spiffe://<td>/ns/<ns>/sa/<sa>` (pki's issueWorkloadCert builds the one URI itself, and pki's
 * parseSpiffeUri refuses this form as a requested identity).
 * With it a waypoint may obtain exactly its Gateway's identity `spiffe://<td>/ns/<ns>/sa/<gateway>`
 * and open xDS only as a `waypoint~` proxy of that Gateway: it is no longer as trusted as its node.
 */
import type { PeerCertificate } from 'node:tls';
import { MeshError } from '@mesh/errors';
import { LABEL_GATEWAY_NAME, WAYPOINT_GATEWAY_CLASS, type Gateway, type MeshSnapshot, type Pod } from '@mesh/mesh-model';
import { spiffeUri, subjectAltNameUris } from '@mesh/pki';
import { waypointServiceAccount } from '../xds/generate/waypoint/names.js';

/** A waypoint Gateway, as its credential names it. */
export interface WaypointRef {
  readonly namespace: string;
  readonly gateway: string;
}

/** Kubernetes object names (DNS subdomains): no `/`, no `..`, so they are safe path segments too. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function waypointUri(trustDomain: string, ref: WaypointRef): string {
  if (!OBJECT_NAME.test(ref.namespace) || !OBJECT_NAME.test(ref.gateway) || ref.gateway.includes('..')) {
    throw new MeshError('ISTIOD_ERR_BAD_WAYPOINT', `"${ref.namespace}/${ref.gateway}" is not a valid Gateway name`);
  }
  return `spiffe://${trustDomain}/waypoint/${ref.namespace}/${ref.gateway}`;
}

/** The one identity a waypoint credential may obtain: the service account named after its Gateway (Istio's convention). */
export function waypointWorkloadIdentity(trustDomain: string, ref: WaypointRef): string {
  return spiffeUri({ trustDomain, namespace: ref.namespace, serviceAccount: waypointServiceAccount(ref.gateway) });
}

/**
 * The Gateway named by a verified client certificate (TLS already checked it chains to our root),
 * or undefined when it names none (a node certificate). Throws ISTIOD_ERR_NOT_A_WAYPOINT when it
 * carries a waypoint URI but is not exactly a waypoint credential (one URI SAN, a valid name).
 */
export function waypointFromPeerCertificate(cert: PeerCertificate | undefined, trustDomain: string): WaypointRef | undefined {
  const uris = subjectAltNameUris(cert?.subjectaltname);
  const prefix = `spiffe://${trustDomain}/waypoint/`;
  if (!uris.some((uri) => uri.startsWith(prefix))) return undefined;
  const [namespace = '', gateway = '', ...rest] = uris[0]!.startsWith(prefix) ? uris[0]!.slice(prefix.length).split('/') : [];
  const ref = { namespace, gateway };
  if (uris.length !== 1 || rest.length > 0 || !OBJECT_NAME.test(namespace) || !OBJECT_NAME.test(gateway)) {
    throw new MeshError('ISTIOD_ERR_NOT_A_WAYPOINT', `the client certificate (${uris.join(', ')}) is not a waypoint credential`, {
      context: { uris },
      hint: `connect with <state-dir>/waypoints/<namespace>/<gateway>/cert.pem, whose one URI is ${prefix}<namespace>/<gateway>`,
    });
  }
  return ref;
}

/** The Gateway `ref` when it exists with class istio-waypoint. */
export function waypointGatewayOf(snapshot: MeshSnapshot, ref: WaypointRef): Gateway | undefined {
  const gateway = snapshot.gateways.get(`${ref.namespace}/${ref.gateway}`);
  return gateway?.gatewayClassName === WAYPOINT_GATEWAY_CLASS ? gateway : undefined;
}

/** The waypoint Gateway a pod runs for (labelled gateway-name for an istio-waypoint Gateway of its namespace), if any. */
export function waypointOfPod(snapshot: MeshSnapshot, pod: Pod): WaypointRef | undefined {
  const gateway = pod.labels[LABEL_GATEWAY_NAME];
  if (gateway === undefined) return undefined;
  const ref = { namespace: pod.namespace, gateway };
  return waypointGatewayOf(snapshot, ref) ? ref : undefined;
}

/** `ns/gateway`, for messages and map keys. */
export function waypointKey(ref: WaypointRef): string {
  return `${ref.namespace}/${ref.gateway}`;
}
