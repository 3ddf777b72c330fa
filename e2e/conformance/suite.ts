/**
 * The mesh the ported conformance tests run in: the suite's namespaces, echo backends and
 * Services (conformance/base and conformance/mesh manifests, as far as a mesh waypoint needs
 * them), each namespace sending its Services' traffic through the one waypoint of
 * gateway-conformance-mesh. The suite's Gateway `same-namespace` is a Service here (no
 * selector: a routing frontend). Every backend pod runs the sample workload with
 * `--http-answer echo`, the suite's echo server.
 */
import type { ExpectedResponse } from '../helpers/conformance.js';

export const MESH = 'gateway-conformance-mesh';
export const CONSUMER = 'gateway-conformance-mesh-consumer';
export const INFRA = 'gateway-conformance-infra';
export const APP = 'gateway-conformance-app-backend';
export const WEB = 'gateway-conformance-web-backend';
/** The Service standing in for the suite's Gateway `same-namespace`. */
export const FRONTEND = 'same-namespace';
/** The Service standing in for the suite's second Gateway, `all-namespaces` (HTTPRouteMultipleGateways). */
export const SECOND_FRONTEND = 'all-namespaces';
export const WAYPOINT = { name: 'waypoint', namespace: MESH, pod: 'waypoint-0', node: 'node-b', ip: '10.77.2.30' } as const;

export interface EchoPod {
  readonly name: string;
  readonly namespace: string;
  readonly node: 'node-a' | 'node-b';
  readonly ip: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Ports the echo server listens on (the broken connection-error pod: none of its Service's). */
  readonly ports: readonly number[];
}

export const PODS: readonly EchoPod[] = [
  { name: 'echo-v1', namespace: MESH, node: 'node-a', ip: '10.77.1.20', labels: { app: 'echo', version: 'v1' }, ports: [80, 8080] },
  { name: 'echo-v2', namespace: MESH, node: 'node-b', ip: '10.77.2.20', labels: { app: 'echo', version: 'v2' }, ports: [80, 8080] },
  { name: 'echo-v1', namespace: CONSUMER, node: 'node-a', ip: '10.77.1.21', labels: { app: 'echo', version: 'v1' }, ports: [80, 8080] },
  { name: 'infra-backend-v1', namespace: INFRA, node: 'node-a', ip: '10.77.1.30', labels: { app: 'infra-backend-v1' }, ports: [3000] },
  { name: 'infra-backend-v2', namespace: INFRA, node: 'node-b', ip: '10.77.2.31', labels: { app: 'infra-backend-v2' }, ports: [3000] },
  { name: 'infra-backend-v3', namespace: INFRA, node: 'node-a', ip: '10.77.1.32', labels: { app: 'infra-backend-v3' }, ports: [3000] },
  { name: 'app-backend-v1', namespace: APP, node: 'node-b', ip: '10.77.2.33', labels: { app: 'app-backend-v1' }, ports: [3000] },
  { name: 'app-backend-v2', namespace: APP, node: 'node-a', ip: '10.77.1.34', labels: { app: 'app-backend-v2' }, ports: [3000] },
  { name: 'web-backend', namespace: WEB, node: 'node-b', ip: '10.77.2.35', labels: { app: 'web-backend' }, ports: [3000] },
  // The suite's connection-error backends: the broken one listens elsewhere, so its Service port is refused.
  { name: 'infra-backend-connection-error-broken', namespace: INFRA, node: 'node-a', ip: '10.77.1.36', labels: { app: 'infra-backend-connection-error', variant: 'broken' }, ports: [3333] },
  { name: 'infra-backend-connection-error-healthy', namespace: INFRA, node: 'node-b', ip: '10.77.2.37', labels: { app: 'infra-backend-connection-error', variant: 'healthy' }, ports: [3000] },
];

interface ServiceSpec {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly selector?: Readonly<Record<string, string>>;
  readonly ports: readonly { readonly name: string; readonly port: number; readonly targetPort?: number; readonly appProtocol?: string }[];
}

const ECHO_PORTS = [
  { name: 'http', port: 80, appProtocol: 'http' },
  { name: 'http-alt', port: 8080, appProtocol: 'http' },
];
const BACKEND_PORT = [{ name: 'http', port: 8080, targetPort: 3000, appProtocol: 'http' }];

export const SERVICES: readonly ServiceSpec[] = [
  { name: 'echo', namespace: MESH, ip: '10.77.100.20', selector: { app: 'echo' }, ports: ECHO_PORTS },
  { name: 'echo-v1', namespace: MESH, ip: '10.77.100.21', selector: { app: 'echo', version: 'v1' }, ports: ECHO_PORTS },
  { name: 'echo-v2', namespace: MESH, ip: '10.77.100.22', selector: { app: 'echo', version: 'v2' }, ports: ECHO_PORTS },
  { name: FRONTEND, namespace: INFRA, ip: '10.77.100.30', ports: [{ name: 'http', port: 80, appProtocol: 'http' }] },
  { name: SECOND_FRONTEND, namespace: INFRA, ip: '10.77.100.35', ports: [{ name: 'http', port: 80, appProtocol: 'http' }] },
  {
    name: 'infra-backend-v1',
    namespace: INFRA,
    ip: '10.77.100.31',
    selector: { app: 'infra-backend-v1' },
    ports: [...BACKEND_PORT, { name: 'h2c', port: 8081, targetPort: 3000, appProtocol: 'kubernetes.io/h2c' }, { name: 'ws', port: 8082, targetPort: 3000, appProtocol: 'kubernetes.io/ws' }],
  },
  { name: 'infra-backend-v2', namespace: INFRA, ip: '10.77.100.32', selector: { app: 'infra-backend-v2' }, ports: BACKEND_PORT },
  { name: 'infra-backend-v3', namespace: INFRA, ip: '10.77.100.33', selector: { app: 'infra-backend-v3' }, ports: BACKEND_PORT },
  { name: 'infra-backend-connection-error', namespace: INFRA, ip: '10.77.100.34', selector: { app: 'infra-backend-connection-error' }, ports: BACKEND_PORT },
  { name: 'app-backend-v1', namespace: APP, ip: '10.77.100.40', selector: { app: 'app-backend-v1' }, ports: BACKEND_PORT },
  { name: 'app-backend-v2', namespace: APP, ip: '10.77.100.41', selector: { app: 'app-backend-v2' }, ports: BACKEND_PORT },
  { name: 'web-backend', namespace: WEB, ip: '10.77.100.50', selector: { app: 'web-backend' }, ports: BACKEND_PORT },
];

/** `name` in `namespace` → its cluster IP (the suite's DNS). */
export function serviceIp(name: string, namespace: string): string | undefined {
  return SERVICES.find((s) => s.name === name && s.namespace === namespace)?.ip;
}

const flow = (labels: Readonly<Record<string, string>>) => `{ ${Object.entries(labels).map(([k, v]) => `${k}: ${v}`).join(', ')} }`;

/** Nodes, namespaces, the waypoint, the echo pods and their Services, as manifests. */
export function baseManifests(): string {
  const docs: string[] = [];
  for (const [name, ip, cidr] of [
    ['node-a', '10.77.0.11', '10.77.1.0/24'],
    ['node-b', '10.77.0.12', '10.77.2.0/24'],
  ]) {
    docs.push(`apiVersion: v1\nkind: Node\nmetadata: { name: ${name} }\nspec: { podCIDR: ${cidr} }\nstatus: { addresses: [{ type: InternalIP, address: ${ip} }] }\n`);
  }
  for (const ns of [MESH, CONSUMER, INFRA, APP, WEB]) {
    docs.push(
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: ${WAYPOINT.name}, istio.io/use-waypoint-namespace: ${WAYPOINT.namespace} }\n`,
    );
  }
  docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: ${WAYPOINT.name}, namespace: ${WAYPOINT.namespace} }\n`);
  docs.push(
    `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: ${WAYPOINT.name}, namespace: ${WAYPOINT.namespace}, labels: { istio.io/waypoint-for: service } }\nspec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }\n`,
  );
  docs.push(
    `apiVersion: v1\nkind: Pod\nmetadata: { name: ${WAYPOINT.pod}, namespace: ${WAYPOINT.namespace}, labels: { gateway.networking.k8s.io/gateway-name: ${WAYPOINT.name} } }\nspec: { serviceAccountName: ${WAYPOINT.name}, nodeName: ${WAYPOINT.node} }\nstatus: { phase: Running, podIP: ${WAYPOINT.ip} }\n`,
  );
  for (const pod of PODS) {
    docs.push(`apiVersion: v1\nkind: Pod\nmetadata: { name: ${pod.name}, namespace: ${pod.namespace}, labels: ${flow(pod.labels)} }\nspec: { nodeName: ${pod.node} }\nstatus: { phase: Running, podIP: ${pod.ip} }\n`);
  }
  for (const svc of SERVICES) {
    const ports = svc.ports.map((p) => `{ name: ${p.name}, port: ${p.port}${p.targetPort ? `, targetPort: ${p.targetPort}` : ''}${p.appProtocol ? `, appProtocol: ${p.appProtocol}` : ''} }`).join(', ');
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: { name: ${svc.name}, namespace: ${svc.namespace} }\nspec: { clusterIP: ${svc.ip}, ${svc.selector ? `selector: ${flow(svc.selector)}, ` : ''}ports: [${ports}] }\n`);
  }
  return docs.join('---\n');
}

export function httpRoute(name: string, namespace: string, parentRef: string, rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec:\n  parentRefs: [${parentRef}]\n  rules:\n${rules}`;
}

/** A ReferenceGrant in `namespace` letting HTTPRoutes of `from` refer to the Service `service`. */
export function referenceGrant(name: string, namespace: string, from: string, service: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec:\n  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${from} }]\n  to: [{ group: "", kind: Service, name: ${service} }]\n`;
}

/** A case of a ported test; `from: 'consumer'` sends it from the consumer namespace's echo-v1. */
export type PortedCase = ExpectedResponse & {
  readonly from?: 'consumer';
  /** Backends (infra Services' pods) that must log a copy of this request. */
  readonly mirroredTo?: readonly string[];
};

/** One of the suite's tests as this suite runs it. */
export interface PortedTest {
  /** The suite's ShortName. */
  readonly name: string;
  readonly family: 'mesh' | 'gateway';
  /** HTTPRoutes (and ReferenceGrants) the test applies; removed after it. */
  readonly manifests: string;
  /** Route `ns/name` → the ResolvedRefs reason its status must show (default: every route resolves). */
  readonly resolvedRefs?: Readonly<Record<string, string>>;
  readonly cases?: readonly PortedCase[];
  /** Consecutive successes a case needs (the suite's default 3). */
  readonly threshold?: number;
  /** Weighted backends: 500 requests land within ±5 points of each share (the suite's weight check). */
  readonly distribution?: { readonly request: ExpectedResponse['request']; readonly weights: Readonly<Record<string, number>> };
  /** A share of requests mirrored to a backend, within ±5 points over 500 requests. */
  readonly mirrorShares?: readonly { readonly request: ExpectedResponse['request']; readonly mirror: string; readonly share: number }[];
  /** Every one of `count` answers must satisfy `check` (undefined: fine). */
  readonly everyAnswer?: { readonly request: ExpectedResponse['request']; readonly count: number; readonly check: (seen: NonNullable<import('../helpers/conformance.js').Captured['request']>) => string | undefined };
  /** The suite's retry simulation: each probe with a fresh uuid must end with `status`. */
  readonly retries?: readonly { readonly path: string; readonly params: Readonly<Record<string, string>>; readonly status: number }[];
  /** A WebSocket through the route echoes a text and a binary message. */
  readonly websocket?: { readonly host: string; readonly path: string };
}

export interface SkippedTest {
  readonly name: string;
  readonly family: 'mesh' | 'gateway';
  readonly reason: string;
}
