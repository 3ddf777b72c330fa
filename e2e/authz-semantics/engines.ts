/**
 * How a dialect decides a case of the authorization table: through the same code the proxies
 * run. The Envoy dialect (what ztunnel and the waypoint run today): istiod-lite's generators
 * (`ztunnelEnvoyGenerator`, `waypointGenerator`: what its ADS server serves) → ztunnel's config compilers and
 * inbound planner, or the waypoint's model store, chain selection and request planner → the
 * `@mesh/envoy-config` RBAC evaluator.
 *
 * Another dialect (Istio's workload API, `istio.security.Authorization`) plugs in by implementing
 * `AuthzEngine.ztunnel` from the same snapshot; the waypoint stays Envoy.
 */
import type { MeshSnapshot, Pod, Service } from '@mesh/mesh-model';
import { LABEL_GATEWAY_NAME } from '@mesh/mesh-model';
import type { RbacDecision } from '@mesh/envoy-config';
import { waypointGenerator, workloadGenerator, ztunnelEnvoyGenerator, type ProxyInfo, type XdsGenerator } from '@mesh/istiod-lite';
import { planInboundPlaintext, planInboundTunnel } from '@mesh/ztunnel';
import { modelOf, workloadStoreOf } from '@mesh/ztunnel/testing';
import type { RuntimeModel } from '@mesh/ztunnel';
import { ModelStore, applicationProtocolOf, authorizeConnection, planRequest } from '@mesh/waypoint';
import { TYPE_URL } from '@mesh/xds';

export interface HttpFacts {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A decision: allowed or not, and what the proxy reports of it. */
export type Verdict = Pick<RbacDecision, 'allowed' | 'policy' | 'shadow' | 'audit'>;

export interface AuthzEngine {
  readonly name: string;
  /**
   * The table's spelling of the policy a verdict names (the Envoy dialect's RBAC keys,
   * `ns[<ns>]-policy[<name>]-rule[<i>]` and `peer-authentication-strict-denies-plaintext`).
   */
  readonly policyName: (name: string) => string;
  /** A connection from `from` to `pod:port`, decided by the destination node's ztunnel. */
  ztunnel(snapshot: MeshSnapshot, from: Pod, to: { pod: Pod; port: number }): Verdict;
  /** A request (or, without `http`, a TCP connection) from `from` to `service:port` through its waypoint. */
  waypoint(snapshot: MeshSnapshot, from: Pod, to: { service: Service; port: number }, http: HttpFacts | undefined): Verdict;
}

function proxy(type: 'ztunnel' | 'waypoint', pod: Pick<Pod, 'name' | 'namespace' | 'nodeName' | 'podIP'>): ProxyInfo {
  return { id: `${type}~${pod.podIP}~${pod.name}~${pod.namespace}.svc.cluster.local`, type, ip: pod.podIP, podName: pod.name, namespace: pod.namespace, nodeName: pod.nodeName, verified: true, metadata: {} };
}

/** Waypoint pods speak HBONE themselves; other pods do when captured, else they connect in plaintext. */
function speaksHbone(snapshot: MeshSnapshot, pod: Pod): boolean {
  return snapshot.isCaptured(pod) || pod.labels[LABEL_GATEWAY_NAME] !== undefined;
}

/** A generator's resources of one type, as a proxy receives them. */
function resourcesOf(generator: XdsGenerator, snapshot: MeshSnapshot, proxyInfo: ProxyInfo): (typeUrl: string) => unknown[] {
  const byType = generator.generate(snapshot, proxyInfo);
  return (typeUrl) => [...(byType.get(typeUrl)?.values() ?? [])];
}

function verdictOf(decision: RbacDecision): Verdict {
  return { allowed: decision.allowed, ...(decision.policy !== undefined ? { policy: decision.policy } : {}), ...(decision.shadow ? { shadow: decision.shadow } : {}), ...(decision.audit !== undefined ? { audit: decision.audit } : {}) };
}

function nodeOf(snapshot: MeshSnapshot, pod: Pod): { name: string; address: string } {
  const node = snapshot.nodeOf(pod.nodeName);
  if (!node) throw new Error(`the table's mesh lacks ${pod.name}'s node`);
  return node;
}

const ztunnelProxy = (node: { name: string; address: string }) => proxy('ztunnel', { name: `ztunnel-${node.name}`, namespace: 'istio-system', nodeName: node.name, podIP: node.address });

/** The destination ztunnel's plan for the connection: HBONE from a mesh identity, else plaintext. */
function inboundVerdict(snapshot: MeshSnapshot, model: RuntimeModel, from: Pod, { pod, port }: { pod: Pod; port: number }): Verdict {
  if (!pod.podIP || !from.podIP) throw new Error(`the table's mesh lacks an IP for ${from.name} or ${pod.name}`);
  const target = `${pod.podIP}:${port}`;
  const plan = speaksHbone(snapshot, from)
    ? planInboundTunnel(model, { localIp: pod.podIP, authority: target, originalDstHeader: target, peerIdentity: snapshot.spiffeOf(from), sourceIp: from.podIP })
    : planInboundPlaintext(model, { src: { ip: from.podIP, port: 40_000 }, dst: { ip: pod.podIP, port } });
  if (plan.kind === 'accept') return verdictOf(plan.decision);
  if (plan.status !== 401 || !plan.decision) throw new Error(`ztunnel refused the connection for another reason than policy: ${plan.status} ${plan.reason}`);
  return verdictOf(plan.decision);
}

export const envoyDialect: AuthzEngine = {
  name: 'Envoy dialect',
  policyName: (name) => name,

  ztunnel(snapshot, from, to) {
    const node = nodeOf(snapshot, to.pod);
    const of = resourcesOf(ztunnelEnvoyGenerator, snapshot, ztunnelProxy(node));
    return inboundVerdict(snapshot, modelOf({ listeners: of(TYPE_URL.LISTENER), clusters: of(TYPE_URL.CLUSTER), endpoints: of(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT) }), from, to);
  },

  waypoint(snapshot, from, { service, port }, http) {
    const gateway = snapshot.waypointFor(service);
    const waypointPod = gateway && [...snapshot.pods.values()].find((p) => p.namespace === gateway.namespace && p.labels[LABEL_GATEWAY_NAME] === gateway.name);
    if (!gateway || !waypointPod || !service.clusterIP || !from.podIP) throw new Error(`${service.name} has no waypoint pod in the table's mesh`);
    const of = resourcesOf(waypointGenerator, snapshot, proxy('waypoint', waypointPod));
    const store = new ModelStore();
    for (const typeUrl of [TYPE_URL.LISTENER, TYPE_URL.CLUSTER, TYPE_URL.ROUTE_CONFIGURATION]) {
      const nack = store.validate(typeUrl, '', of(typeUrl));
      if (nack) throw new Error(`the waypoint NACKs ${typeUrl}: ${nack}`);
      store.commit(typeUrl);
    }
    const listeners = store.model.listeners;
    const chainName = listeners?.selectChain({ destinationIp: service.clusterIP, destinationPort: port, applicationProtocol: applicationProtocolOf(http ? 'http/1.1' : 'tcp') });
    const chain = chainName === undefined ? undefined : listeners?.chains.get(chainName);
    if (!chain) throw new Error(`the waypoint has no chain for ${service.clusterIP}:${port}`);
    const downstream = { peerIdentity: snapshot.spiffeOf(from), sourceAddress: from.podIP, destinationIp: service.clusterIP, destinationPort: port };
    if (chain.kind === 'tcp' || !http) {
      if (chain.kind !== 'tcp') throw new Error(`a TCP connection selected the HTTP chain ${chain.name}`);
      return verdictOf(authorizeConnection(chain, downstream));
    }
    const headers = Object.fromEntries(Object.entries(http.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const planned = planRequest({
      chain,
      routes: store.model.routes,
      clusters: store.model.clusters?.clusters,
      request: { method: http.method, path: http.path, authority: http.host, headers: { ...headers, host: http.host } },
      downstream,
      random: () => 0,
      requestId: () => 'semantics-table',
    });
    return verdictOf(planned.authorization);
  },
};

/**
 * Istio's workload API dialect at ztunnel (`--xds-dialect workload`): istiod-lite's
 * `workloadGenerator` (Address and Authorization resources) → ztunnel's workload model store →
 * the same inbound planner. The waypoint speaks Envoy in both dialects.
 */
export const workloadDialect: AuthzEngine = {
  name: 'workload dialect',
  // Its groups are numbered as sent (rules left out are not counted), and STRICT is istiod's static policy.
  policyName: (name) => (/policy\[istio_converted_static_strict\]/.test(name) ? 'peer-authentication-strict-denies-plaintext' : name.replace(/-rule\[\d+\]$/, '-rule[…]')),

  ztunnel(snapshot, from, to) {
    const node = nodeOf(snapshot, to.pod);
    const of = resourcesOf(workloadGenerator, snapshot, ztunnelProxy(node));
    const byName = (typeUrl: string) => Object.fromEntries(of(typeUrl).map((r, i) => [String(i), r])) as Record<string, never>;
    const store = workloadStoreOf({ addresses: byName(TYPE_URL.ADDRESS), authorizations: byName(TYPE_URL.AUTHORIZATION) }, node.name);
    return inboundVerdict(snapshot, store.model, from, to);
  },

  waypoint: envoyDialect.waypoint,
};
