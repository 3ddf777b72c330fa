/**
 * The schema of every resource kind, as tables of fields. Adding a kind means adding its
 * interface in `types.ts` and one entry in `KINDS`; the parser needs no change.
 */
import { isIP } from 'node:net';
import {
  boolean,
  cidr,
  dnsName,
  duration,
  either,
  fixed,
  integer,
  ipAddress,
  list,
  object,
  oneOf,
  optional,
  port,
  portName,
  portString,
  refine,
  required,
  string,
  stringMap,
  text,
  transform,
  withDefault,
  type Decoder,
} from './schema.js';
import type {
  AuthorizationOperation,
  AuthorizationPolicy,
  AuthorizationRule,
  AuthorizationSource,
  BackendRef,
  Container,
  ContainerPort,
  Gateway,
  GatewayAddress,
  GatewayListener,
  HeaderModifier,
  HttpRoute,
  HttpRouteFilter,
  HttpRouteMatch,
  HttpRouteRule,
  LabelSelector,
  MeshResource,
  MeshResourceKind,
  Namespace,
  Node,
  ParentRef,
  PeerAuthentication,
  Pod,
  PolicyTargetRef,
  Service,
  ServiceAccount,
  ServicePort,
  UrlRewrite,
} from './types.js';

/** What a kind decoder produces: the resource without its source location (the parser adds it). */
type Body<T> = Omit<T, 'source'>;

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

const metadata = {
  name: required(dnsName, 'metadata.name'),
  labels: withDefault(stringMap, EMPTY, 'metadata.labels'),
  annotations: withDefault(stringMap, EMPTY, 'metadata.annotations'),
};
const namespacedMetadata = { ...metadata, namespace: withDefault(dnsName, 'default', 'metadata.namespace') };

const protocol = oneOf(['TCP', 'UDP', 'SCTP'] as const);

const labelSelector = object<LabelSelector>({ matchLabels: withDefault(stringMap, EMPTY) });

// ---- core/v1 ---------------------------------------------------------------------------------

const namespace = object<Body<Namespace>>({ kind: fixed('Namespace'), ...metadata });

const serviceAccount = object<Body<ServiceAccount>>({ kind: fixed('ServiceAccount'), ...namespacedMetadata });

const nodeAddress = object<{ type: string; address: string }>({ type: required(string()), address: required(string()) });
const internalIp: Decoder<string> = refine(
  transform(list(nodeAddress), (addresses) => addresses.find((a) => a.type === 'InternalIP')?.address ?? ''),
  (address) =>
    isIP(address) ? undefined : { path: '', message: address ? `expected the InternalIP to be an IP address, got "${address}"` : 'expected an address of type InternalIP' },
);
const node = object<Body<Node>>({
  kind: fixed('Node'),
  ...metadata,
  address: required(internalIp, 'status.addresses'),
  podCidr: optional(cidr, 'spec.podCIDR'),
});

const containerPort = object<ContainerPort>({
  name: optional(portName),
  containerPort: required(port),
  protocol: withDefault(protocol, 'TCP'),
});
const container = object<Container>({ name: required(dnsName), ports: withDefault(list(containerPort), []) });

const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
const podCondition = object<{ type: string; status: string }>({
  type: required(string()),
  status: required(oneOf(['True', 'False', 'Unknown'] as const)),
});
/** Kubernetes readiness: Running, and no Ready condition that is not True. */
const podReady: Decoder<boolean> = transform(
  object<{ phase: string; conditions: { type: string; status: string }[] }>({
    phase: withDefault(oneOf(POD_PHASES), 'Running'),
    conditions: withDefault(list(podCondition), []),
  }),
  (s) => s.phase === 'Running' && s.conditions.every((c) => c.type !== 'Ready' || c.status === 'True'),
);

const pod = object<Body<Pod>>({
  kind: fixed('Pod'),
  ...namespacedMetadata,
  serviceAccountName: withDefault(dnsName, 'default', 'spec.serviceAccountName'),
  nodeName: required(dnsName, 'spec.nodeName'),
  podIP: optional(ipAddress, 'status.podIP'),
  ready: withDefault(podReady, true, 'status'),
  hostNetwork: withDefault(boolean, false, 'spec.hostNetwork'),
  containers: withDefault(list(container), [], 'spec.containers'),
});

const servicePort: Decoder<ServicePort> = transform(
  object<Omit<ServicePort, 'targetPort'> & { targetPort?: number | string }>({
    name: optional(portName),
    port: required(port),
    targetPort: optional(either<number | string>('an integer 1-65535 or a port name', port, portName)),
    protocol: withDefault(protocol, 'TCP'),
    appProtocol: optional(string()),
  }),
  (p) => ({ ...p, targetPort: p.targetPort ?? p.port }),
);

const service = refine(
  transform(
    object<Body<Service>>({
      kind: fixed('Service'),
      ...namespacedMetadata,
      clusterIP: optional(either<string>('an IP address or None', ipAddress, oneOf(['None'] as const)), 'spec.clusterIP'),
      ports: withDefault(list(servicePort), [], 'spec.ports'),
      selector: optional(stringMap, 'spec.selector'),
    }),
    // A headless service (`clusterIP: None`) has no VIP to capture.
    (s) => (s.clusterIP === 'None' ? (({ clusterIP: _none, ...rest }) => rest)(s) : s),
  ),
  (s) => {
    // Kubernetes: every port of a multi-port service must be named, and names are unique.
    const unnamed = s.ports.length > 1 ? s.ports.findIndex((p) => !p.name) : -1;
    if (unnamed >= 0) return { path: `spec.ports`, message: `expected every port to have a name when a service has several ports (ports[${unnamed}] has none)` };
    const seen = new Set<number>();
    for (const p of s.ports) {
      if (seen.has(p.port)) return { path: 'spec.ports', message: `expected unique port numbers, ${p.port} appears twice` };
      seen.add(p.port);
    }
    return undefined;
  },
);

// ---- security.istio.io/v1 --------------------------------------------------------------------

const strings = list(string());

const targetRef = object<PolicyTargetRef>({
  group: withDefault(text, ''),
  kind: required(string()),
  name: required(dnsName),
  namespace: optional(dnsName),
});

const source = object<AuthorizationSource>({
  principals: optional(strings),
  notPrincipals: optional(strings),
  namespaces: optional(strings),
  notNamespaces: optional(strings),
  ipBlocks: optional(list(cidr)),
  notIpBlocks: optional(list(cidr)),
});

const operation = object<AuthorizationOperation>({
  ports: optional(list(portString)),
  notPorts: optional(list(portString)),
  methods: optional(strings),
  notMethods: optional(strings),
  paths: optional(strings),
  notPaths: optional(strings),
  hosts: optional(strings),
  notHosts: optional(strings),
});

const rule = object<AuthorizationRule>({
  from: withDefault(list(object({ source: required(source) })), []),
  to: withDefault(list(object({ operation: required(operation) })), []),
  when: withDefault(list(object({ key: required(string()), values: optional(strings), notValues: optional(strings) })), []),
});

const authorizationPolicy = refine(
  object<Body<AuthorizationPolicy>>({
    kind: fixed('AuthorizationPolicy'),
    ...namespacedMetadata,
    selector: optional(labelSelector, 'spec.selector'),
    targetRefs: withDefault(list(targetRef), [], 'spec.targetRefs'),
    action: withDefault(oneOf(['ALLOW', 'DENY'] as const), 'ALLOW', 'spec.action'),
    rules: withDefault(list(rule), [], 'spec.rules'),
  }),
  (p) => (p.selector && p.targetRefs.length > 0 ? { path: 'spec.targetRefs', message: 'expected either selector or targetRefs, not both' } : undefined),
);

const peerAuthentication = object<Body<PeerAuthentication>>({
  kind: fixed('PeerAuthentication'),
  ...namespacedMetadata,
  selector: optional(labelSelector, 'spec.selector'),
  mtlsMode: withDefault(oneOf(['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE'] as const), 'UNSET', 'spec.mtls.mode'),
});

// ---- gateway.networking.k8s.io/v1 ------------------------------------------------------------

const listener = object<GatewayListener>({
  name: required(dnsName),
  port: required(port),
  protocol: required(string()),
  hostname: optional(string()),
});
const gatewayAddress = object<GatewayAddress>({ type: withDefault(string(), 'IPAddress'), value: required(string()) });

const gateway = transform(
  object<Body<Omit<Gateway, 'addresses'>> & { specAddresses: GatewayAddress[]; statusAddresses: GatewayAddress[] }>({
    kind: fixed('Gateway'),
    ...namespacedMetadata,
    gatewayClassName: required(dnsName, 'spec.gatewayClassName'),
    listeners: withDefault(list(listener), [], 'spec.listeners'),
    specAddresses: withDefault(list(gatewayAddress), [], 'spec.addresses'),
    statusAddresses: withDefault(list(gatewayAddress), [], 'status.addresses'),
  }),
  ({ specAddresses, statusAddresses, ...g }): Body<Gateway> => ({ ...g, addresses: [...specAddresses, ...statusAddresses] }),
);

const parentRef = object<ParentRef>({
  group: withDefault(text, 'gateway.networking.k8s.io'),
  kind: withDefault(oneOf(['Gateway', 'Service'] as const), 'Gateway'),
  name: required(dnsName),
  namespace: optional(dnsName),
  port: optional(port),
  sectionName: optional(string()),
});

const valueMatchType = oneOf(['Exact', 'RegularExpression'] as const);
const valueMatch = refine(
  object<{ type: 'Exact' | 'RegularExpression'; name: string; value: string }>({
    type: withDefault(valueMatchType, 'Exact'),
    name: required(string()),
    value: required(text),
  }),
  (m) => (m.type === 'RegularExpression' && regexFails(m.value) ? { path: 'value', message: 'expected a valid regular expression' } : undefined),
);

function regexFails(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return false;
  } catch {
    return true;
  }
}

const pathMatch = refine(
  object<NonNullable<HttpRouteMatch['path']>>({
    type: withDefault(oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const), 'PathPrefix'),
    value: withDefault(text, '/'),
  }),
  (p) =>
    p.type === 'RegularExpression'
      ? regexFails(p.value) ? { path: 'value', message: 'expected a valid regular expression' } : undefined
      : p.value.startsWith('/') ? undefined : { path: 'value', message: `expected a path starting with "/", got "${p.value}"` },
);

const routeMatch = object<HttpRouteMatch>({
  path: optional(pathMatch),
  headers: withDefault(list(valueMatch), []),
  queryParams: withDefault(list(valueMatch), []),
  method: optional(oneOf(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const)),
});

const nameValue = object<{ name: string; value: string }>({ name: required(string()), value: required(text) });
const headerModifier = object<HeaderModifier>({
  set: withDefault(list(nameValue), []),
  add: withDefault(list(nameValue), []),
  remove: withDefault(strings, []),
});

const urlRewrite = object<UrlRewrite>({
  hostname: optional(string()),
  path: optional(
    refine(
      object<NonNullable<UrlRewrite['path']>>({
        type: required(oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const)),
        replaceFullPath: optional(text),
        replacePrefixMatch: optional(text),
      }),
      (p) => {
        const field = p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
        return p[field] === undefined ? { path: '', message: `expected ${field} when type is ${p.type}` } : undefined;
      },
    ),
  ),
});

/** Each filter type names the field that must carry its configuration. */
const FILTER_FIELD = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  URLRewrite: 'urlRewrite',
} as const;

const routeFilter = refine(
  object<HttpRouteFilter>({
    type: required(oneOf(Object.keys(FILTER_FIELD) as (keyof typeof FILTER_FIELD)[])),
    requestHeaderModifier: optional(headerModifier),
    responseHeaderModifier: optional(headerModifier),
    urlRewrite: optional(urlRewrite),
  }),
  (f) => (f[FILTER_FIELD[f.type]] ? undefined : { path: '', message: `expected ${FILTER_FIELD[f.type]} when type is ${f.type}` }),
);

const backendRef = refine(
  object<BackendRef>({
    group: withDefault(text, ''),
    kind: withDefault(string(), 'Service'),
    name: required(dnsName),
    namespace: optional(dnsName),
    port: optional(port),
    weight: withDefault(integer(0, 1_000_000), 1),
  }),
  (b) => (b.kind === 'Service' && b.port === undefined ? { path: '', message: 'missing required field "port" (required when kind is Service)' } : undefined),
);

const routeRule = object<HttpRouteRule>({
  matches: withDefault(list(routeMatch), []),
  filters: withDefault(list(routeFilter), []),
  backendRefs: withDefault(list(backendRef), []),
  timeouts: optional(object({ request: optional(duration), backendRequest: optional(duration) })),
  retry: optional(object({ attempts: optional(integer(0, 100)), codes: withDefault(list(integer(400, 599)), []), backoff: optional(duration) })),
});

const httpRoute = refine(
  object<Body<HttpRoute>>({
    kind: fixed('HTTPRoute'),
    ...namespacedMetadata,
    parentRefs: required(list(parentRef), 'spec.parentRefs'),
    hostnames: withDefault(strings, [], 'spec.hostnames'),
    rules: withDefault(list(routeRule), [], 'spec.rules'),
  }),
  (r) => (r.parentRefs.length === 0 ? { path: 'spec.parentRefs', message: 'expected at least one parentRef' } : undefined),
);

// ---- the table -------------------------------------------------------------------------------

export interface KindSpec {
  /** Accepted `apiVersion` values, preferred first. */
  readonly apiVersions: readonly string[];
  readonly namespaced: boolean;
  readonly decode: Decoder<Body<MeshResource>>;
}

const spec = <T extends MeshResource>(apiVersions: readonly string[], namespaced: boolean, decode: Decoder<Body<T>>): KindSpec => ({
  apiVersions,
  namespaced,
  decode: decode as Decoder<Body<MeshResource>>,
});

const ISTIO_SECURITY = ['security.istio.io/v1', 'security.istio.io/v1beta1'];
const GATEWAY_API = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];

export const KINDS: Readonly<Record<MeshResourceKind, KindSpec>> = {
  Namespace: spec(['v1'], false, namespace),
  ServiceAccount: spec(['v1'], true, serviceAccount),
  Node: spec(['v1'], false, node),
  Pod: spec(['v1'], true, pod),
  Service: spec(['v1'], true, service),
  AuthorizationPolicy: spec(ISTIO_SECURITY, true, authorizationPolicy),
  PeerAuthentication: spec(ISTIO_SECURITY, true, peerAuthentication),
  Gateway: spec(GATEWAY_API, true, gateway),
  HTTPRoute: spec(GATEWAY_API, true, httpRoute),
};

export function isKnownKind(kind: string): kind is MeshResourceKind {
  return Object.hasOwn(KINDS, kind);
}
