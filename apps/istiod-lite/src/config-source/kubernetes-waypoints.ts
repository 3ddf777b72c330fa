/**
 * The pods of a waypoint: for each Gateway of class istio-waypoint a ServiceAccount, a Deployment
 * and a Service named after it, as Istio's gateway deployment controller makes them
 * (istio/istio pilot/pkg/config/kube/gateway/deploymentcontroller.go and its `waypoint` template).
 * Pure: from the Gateway as the API server sent it and istiod-lite's flags to the objects to
 * server-side apply.
 *
 * Invariants:
 * - Every object carries an owner reference to the Gateway (by uid), so deleting the Gateway has
 *   the garbage collector delete them; and objects without that reference are never written
 *   (`ownedBy`): a Deployment someone else made under the same name is left alone.
 * - The pods are labelled `gateway.networking.k8s.io/gateway-name: <gateway>`: the label the
 *   Gateway's `Programmed` status (kubernetes-status.ts) and the waypoint's own xDS identity look
 *   for, and the Service's selector.
 * - The waypoint proves itself with its projected service-account token (audience istio-ca) and
 *   checks istiod-lite with the mesh root from the namespace's `istio-ca-root-cert` ConfigMap
 *   (kubernetes-root-cert.ts): nothing is copied onto a node.
 */
import { LABEL_DATAPLANE_MODE, DATAPLANE_MODE_NONE, LABEL_GATEWAY_NAME, LABEL_USE_WAYPOINT, WAYPOINT_GATEWAY_CLASS } from '@mesh/mesh-model';
import type { KubernetesObject } from './kubernetes-objects.js';
import { ROOT_CERT_CONFIG_MAP, ROOT_CERT_KEY } from './kubernetes-root-cert.js';

/** The image `docker/build-images.sh` tags for apps/waypoint. */
export const DEFAULT_WAYPOINT_IMAGE = 'mesh/waypoint:latest';
/** istiod-lite's Service in deploy/kubernetes (xDS and the CA, 15012). */
export const DEFAULT_WAYPOINT_XDS_ADDRESS = 'istiod.istio-system.svc:15012';
/** Istio's label naming the Gateway of a waypoint's objects (beside Gateway API's). */
export const LABEL_ISTIO_GATEWAY_NAME = 'istio.io/gateway-name';
/** The field manager of every write (server-side apply, Events), as reportingController elsewhere. */
export const FIELD_MANAGER = 'istio.io/istiod-lite';

/** HBONE, metrics and readiness: apps/waypoint's ports (its ARCHITECTURE.md). */
const HBONE_PORT = 15008;
const METRICS_PORT = 15020;
const READINESS_PORT = 15021;
const TOKEN_DIR = '/var/run/secrets/tokens';
const ROOT_CERT_DIR = '/var/run/secrets/istio';

export interface WaypointOptions {
  image: string;
  xdsAddress: string;
  trustDomain: string;
}

/** Istio's label on the objects its gateway controller manages for a waypoint (`constants.ManagedGatewayMeshControllerLabel`). */
export const LABEL_GATEWAY_MANAGED = 'gateway.istio.io/managed';
export const GATEWAY_MANAGED_MESH = 'istio.io-mesh-controller';

interface GatewayObject extends KubernetesObject {
  spec?: { gatewayClassName?: string; addresses?: Array<{ type?: string; value?: string }> };
}

/**
 * Whether istiod-lite makes pods for this Gateway: class istio-waypoint, a uid to own them by,
 * and managed in Istio's sense (`IsManaged`): no `spec.addresses`, or a single IP address (a
 * requested IP). A hostname, or several addresses, is a manual deployment: the user runs the
 * waypoint's pods.
 */
export function isWaypointGateway(gateway: KubernetesObject): boolean {
  const spec = (gateway as GatewayObject).spec;
  const addresses = spec?.addresses ?? [];
  const managed = addresses.length === 0 || (addresses.length === 1 && (addresses[0]?.type === undefined || addresses[0].type === 'IPAddress'));
  return spec?.gatewayClassName === WAYPOINT_GATEWAY_CLASS && typeof gateway.metadata?.['uid'] === 'string' && managed;
}

/** The owner reference every object of the Gateway carries. */
export function gatewayOwnerReference(gateway: KubernetesObject): Record<string, unknown> {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: gateway.metadata?.name ?? '', uid: gateway.metadata?.['uid'], controller: true };
}

/** Whether an object as the API server has it is the Gateway's (its owner reference names the Gateway's uid). */
export function ownedBy(object: KubernetesObject, gateway: KubernetesObject): boolean {
  const references = (object.metadata?.['ownerReferences'] ?? []) as Array<{ kind?: string; uid?: string }>;
  return references.some((r) => r.kind === 'Gateway' && r.uid === gateway.metadata?.['uid']);
}

/** The ServiceAccount, Deployment and Service of a waypoint Gateway, in the order they are applied. */
export function waypointObjects(gateway: KubernetesObject, options: WaypointOptions): KubernetesObject[] {
  const name = gateway.metadata?.name ?? '';
  const namespace = gateway.metadata?.namespace ?? 'default';
  const labels = { [LABEL_GATEWAY_NAME]: name, [LABEL_ISTIO_GATEWAY_NAME]: name, [LABEL_GATEWAY_MANAGED]: GATEWAY_MANAGED_MESH };
  const metadata = () => ({ name, namespace, labels: { ...labels }, ownerReferences: [gatewayOwnerReference(gateway)] });
  const fieldRef = (fieldPath: string) => ({ valueFrom: { fieldRef: { fieldPath } } });
  return [
    // Its own identity, spiffe://<td>/ns/<namespace>/sa/<gateway>, as Istio's waypoint has.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(), automountServiceAccountToken: false },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(),
      spec: {
        replicas: 1,
        selector: { matchLabels: { [LABEL_GATEWAY_NAME]: name } },
        template: {
          metadata: {
            // Not captured itself: a waypoint receives HBONE and sends HBONE.
            labels: { ...labels, [LABEL_DATAPLANE_MODE]: DATAPLANE_MODE_NONE, 'sidecar.istio.io/inject': 'false' },
          },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 30,
            securityContext: { runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'waypoint',
                image: options.image,
                imagePullPolicy: 'IfNotPresent',
                env: [
                  { name: 'NODE_NAME', ...fieldRef('spec.nodeName') },
                  { name: 'POD_NAME', ...fieldRef('metadata.name') },
                  { name: 'POD_NAMESPACE', ...fieldRef('metadata.namespace') },
                  { name: 'POD_IP', ...fieldRef('status.podIP') },
                  { name: 'XDS_ADDRESS', value: options.xdsAddress },
                  { name: 'TOKEN_FILE', value: `${TOKEN_DIR}/istio-token` },
                  { name: 'CA_ROOT_CERT', value: `${ROOT_CERT_DIR}/${ROOT_CERT_KEY}` },
                  { name: 'TRUST_DOMAIN', value: options.trustDomain },
                ],
                ports: [
                  { name: 'mesh', containerPort: HBONE_PORT, protocol: 'TCP' },
                  { name: 'http-metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
                  { name: 'status-port', containerPort: READINESS_PORT, protocol: 'TCP' },
                ],
                // 200 once config is synced and its certificate issued (apps/waypoint ARCHITECTURE.md).
                readinessProbe: { httpGet: { path: '/healthz/ready', port: READINESS_PORT }, periodSeconds: 5 },
                // Alive while it answers at all: an xDS outage must not restart it (it keeps its last config).
                livenessProbe: { tcpSocket: { port: READINESS_PORT }, initialDelaySeconds: 10, periodSeconds: 20 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
                volumeMounts: [
                  { name: 'istio-token', mountPath: TOKEN_DIR, readOnly: true },
                  { name: 'istiod-ca-cert', mountPath: ROOT_CERT_DIR, readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { path: 'istio-token', audience: 'istio-ca', expirationSeconds: 43200 } }] } },
              { name: 'istiod-ca-cert', configMap: { name: ROOT_CERT_CONFIG_MAP } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      // A waypoint's own Service never goes through a waypoint (Istio: waypoints have no
      // waypoint), even in a namespace labelled istio.io/use-waypoint.
      metadata: { ...metadata(), labels: { ...labels, [LABEL_USE_WAYPOINT]: 'none' } },
      spec: {
        type: 'ClusterIP',
        selector: { [LABEL_GATEWAY_NAME]: name },
        ports: [
          { name: 'mesh', port: HBONE_PORT, targetPort: HBONE_PORT, protocol: 'TCP' },
          { name: 'status-port', port: READINESS_PORT, targetPort: READINESS_PORT, protocol: 'TCP' },
        ],
      },
    },
  ];
}

/** The API path of one namespaced object of the kinds waypointObjects makes. */
export function waypointObjectPath(object: KubernetesObject): string {
  const { name = '', namespace = 'default' } = object.metadata ?? {};
  const collection = object.kind === 'Deployment' ? '/apis/apps/v1' : '/api/v1';
  const plural = { Deployment: 'deployments', Service: 'services', ServiceAccount: 'serviceaccounts' }[object.kind as 'Deployment'] ?? '';
  return `${collection}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`;
}
