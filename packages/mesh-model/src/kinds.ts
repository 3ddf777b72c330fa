/**
 * The schema of every resource kind, as tables of fields. Adding a kind means adding its
 * interface in `types.ts` and one entry in `KINDS`; the parser needs no change.
 */
import { isIP } from 'node:net';
import { metadata, namespacedMetadata, type Body } from './metadata.js';
import { authorizationPolicy, peerAuthentication } from './security-kinds.js';
import { LABEL_WAYPOINT_FOR, WAYPOINT_FOR_VALUES } from './snapshot.js';
import {
  boolean,
  checked,
  cidr,
  closed,
  dnsName,
  duration,
  either,
  fixed,
  gatewayDurationMs,
  integer,
  ipAddress,
  list,
  matching,
  object,
  oneOf,
  optional,
  port,
  portName,
  refine,
  required,
  scalarOneOf,
  strictObject,
  string,
  stringMap,
  text,
  transform,
  withDefault,
  type Decoder,
} from './schema.js';
import type {
  AuthorizationPolicy,
  BackendObjectRef,
  BackendRef,
  Container,
  CorsPolicy,
  ContainerPort,
  Gateway,
  GatewayAddress,
  GatewayListener,
  HeaderModifier,
  HttpRoute,
  HttpRouteFilter,
  HttpPathModifier,
  HttpRouteFilterType,
  HttpRouteMatch,
  HttpRouteRule,
  MeshResource,
  MeshResourceKind,
  Namespace,
  Node,
  ParentRef,
  PeerAuthentication,
  Pod,
  ReferenceGrant,
  RequestMirror,
  RequestRedirect,
  Service,
  ServiceAccount,
  ServicePort,
  UrlRewrite,
} from './types.js';

const protocol = oneOf(['TCP', 'UDP', 'SCTP'] as const);

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

const strings = list(string());

// ---- gateway.networking.k8s.io/v1 ------------------------------------------------------------

const listener = object<GatewayListener>({
  name: required(dnsName),
  port: required(port),
  protocol: required(string()),
  hostname: optional(string()),
});
const gatewayAddress = object<GatewayAddress>({ type: withDefault(string(), 'IPAddress'), value: required(string()) });

const gateway = checked(
  transform(
    object<Body<Omit<Gateway, 'addresses'>> & { specAddresses: GatewayAddress[]; statusAddresses: GatewayAddress[] }>({
      kind: fixed('Gateway'),
      ...namespacedMetadata,
      gatewayClassName: required(dnsName, 'spec.gatewayClassName'),
      listeners: withDefault(list(listener), [], 'spec.listeners'),
      specAddresses: withDefault(list(gatewayAddress), [], 'spec.addresses'),
      statusAddresses: withDefault(list(gatewayAddress), [], 'status.addresses'),
    }),
    ({ specAddresses, statusAddresses, ...g }): Body<Gateway> => ({ ...g, addresses: [...specAddresses, ...statusAddresses] }),
  ),
  // Istio's traffic types for a waypoint (istioctl waypoint --for); anything else would silently
  // route nothing through it, so it is refused naming the label.
  (g) => {
    const value = g.labels[LABEL_WAYPOINT_FOR];
    if (value === undefined || (WAYPOINT_FOR_VALUES as readonly string[]).includes(value)) return [];
    return [{ at: ['metadata', 'labels', LABEL_WAYPOINT_FOR], message: `unknown traffic type "${value}" (expected one of ${WAYPOINT_FOR_VALUES.join(', ')})` }];
  },
);

const parentRef = strictObject<ParentRef>({
  group: withDefault(text, 'gateway.networking.k8s.io'),
  kind: withDefault(oneOf(['Gateway', 'Service'] as const), 'Gateway'),
  name: required(dnsName),
  namespace: optional(dnsName),
  port: optional(port),
  sectionName: optional(string()),
});

/** Gateway API HTTPHeaderName: an RFC 7230 token. */
const headerName = matching(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, 'a header name (letters, digits and !#$%&\'*+-.^_`|~)');

const valueMatchType = oneOf(['Exact', 'RegularExpression'] as const);
const valueMatch = refine(
  strictObject<{ type: 'Exact' | 'RegularExpression'; name: string; value: string }>({
    type: withDefault(valueMatchType, 'Exact'),
    name: required(string()),
    value: required(text),
  }),
  (m) => (m.type === 'RegularExpression' && regexFails(m.value) ? { path: 'value', message: 'expected a valid regular expression' } : undefined),
);
const headerMatch = refine(valueMatch, (m) => (/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(m.name) ? undefined : { path: 'name', message: `expected a header name, got "${m.name}"` }));

function regexFails(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return false;
  } catch {
    return true;
  }
}

const pathMatch = refine(
  strictObject<NonNullable<HttpRouteMatch['path']>>({
    type: withDefault(oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const), 'PathPrefix'),
    value: withDefault(text, '/'),
  }),
  (p) =>
    p.type === 'RegularExpression'
      ? regexFails(p.value) ? { path: 'value', message: 'expected a valid regular expression' } : undefined
      : p.value.startsWith('/') ? undefined : { path: 'value', message: `expected a path starting with "/", got "${p.value}"` },
);

const routeMatch = strictObject<HttpRouteMatch>({
  path: optional(pathMatch),
  headers: withDefault(list(headerMatch), []),
  queryParams: withDefault(list(valueMatch), []),
  method: optional(oneOf(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const)),
});

/** The first name that appears twice (case-insensitive), if any. */
function duplicate(names: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const name of names) {
    const key = name.toLowerCase();
    if (seen.has(key)) return name;
    seen.add(key);
  }
  return undefined;
}

const nameValue = strictObject<{ name: string; value: string }>({ name: required(headerName), value: required(text) });
const headerModifier = refine(
  strictObject<HeaderModifier>({
    set: withDefault(list(nameValue), []),
    add: withDefault(list(nameValue), []),
    remove: withDefault(list(headerName), []),
  }),
  (m) => {
    for (const field of ['set', 'add'] as const) {
      const twice = duplicate(m[field].map((h) => h.name));
      if (twice) return { path: field, message: `expected each header once, "${twice}" appears twice` };
    }
    const twice = duplicate(m.remove);
    return twice ? { path: 'remove', message: `expected each header once, "${twice}" appears twice` } : undefined;
  },
);

const pathModifier = refine(
  strictObject<HttpPathModifier>({
    type: required(oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const)),
    replaceFullPath: optional(text),
    replacePrefixMatch: optional(text),
  }),
  (p) => {
    const [field, other] = p.type === 'ReplaceFullPath' ? (['replaceFullPath', 'replacePrefixMatch'] as const) : (['replacePrefixMatch', 'replaceFullPath'] as const);
    if (p[field] === undefined) return { path: '', message: `expected ${field} when type is ${p.type}` };
    if (p[other] !== undefined) return { path: other, message: `expected no ${other} when type is ${p.type}` };
    return p[field]?.startsWith('/') ? undefined : { path: field, message: `expected a path starting with "/", got "${p[field]}"` };
  },
);

/** Gateway API PreciseHostname: a DNS name, no wildcard, no port. */
const preciseHostname = matching(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'a lowercase host name (no port, no wildcard)');

const urlRewrite = strictObject<UrlRewrite>({ hostname: optional(preciseHostname), path: optional(pathModifier) });

const requestRedirect = strictObject<RequestRedirect>({
  scheme: optional(oneOf(['http', 'https'] as const)),
  hostname: optional(preciseHostname),
  path: optional(pathModifier),
  port: optional(port),
  statusCode: withDefault(scalarOneOf([301, 302, 303, 307, 308] as const), 302),
});

const backendObjectRef = refine(
  strictObject<BackendObjectRef>({
    group: withDefault(text, ''),
    kind: withDefault(string(), 'Service'),
    name: required(dnsName),
    namespace: optional(dnsName),
    port: optional(port),
  }),
  (b) => (b.kind === 'Service' && b.port === undefined ? { path: '', message: 'missing required field "port" (required when kind is Service)' } : undefined),
);

const requestMirror = refine(
  strictObject<RequestMirror>({
    backendRef: required(backendObjectRef),
    percent: optional(integer(0, 100)),
    fraction: optional(
      refine(strictObject<{ numerator: number; denominator: number }>({ numerator: required(integer(0, 1_000_000)), denominator: withDefault(integer(1, 1_000_000), 100) }), (f) =>
        f.numerator <= f.denominator ? undefined : { path: 'numerator', message: `expected a numerator no larger than the denominator (${f.denominator})` },
      ),
    ),
  }),
  (m) => (m.percent !== undefined && m.fraction !== undefined ? { path: 'fraction', message: 'expected either percent or fraction, not both' } : undefined),
);

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
/** `*`, or `scheme://host[:port]` whose host may start with `*.` (Gateway API CORSOrigin). */
const corsOrigin = matching(/^(\*|[a-z][a-z0-9+.-]*:\/\/(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?)$/i, 'an origin: "*" or scheme://host[:port] (the host may start with "*.")');

const cors = refine(
  strictObject<CorsPolicy>({
    allowOrigins: withDefault(list(corsOrigin), []),
    allowMethods: withDefault(list(oneOf([...HTTP_METHODS, '*'] as const)), []),
    allowHeaders: withDefault(list(either<string>('a header name or "*"', headerName, oneOf(['*'] as const))), []),
    exposeHeaders: withDefault(list(either<string>('a header name or "*"', headerName, oneOf(['*'] as const))), []),
    allowCredentials: withDefault(boolean, false),
    maxAge: withDefault(integer(1, 86_400 * 365), 5),
  }),
  (c) => {
    for (const field of ['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders'] as const) {
      if (c[field].includes('*') && c[field].length > 1) return { path: field, message: 'expected "*" alone, not with other values' };
    }
    return undefined;
  },
);

/** Each filter type names the field that must carry its configuration. */
const FILTER_FIELD = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  URLRewrite: 'urlRewrite',
  RequestRedirect: 'requestRedirect',
  RequestMirror: 'requestMirror',
  CORS: 'cors',
} as const satisfies Record<HttpRouteFilterType, keyof HttpRouteFilter>;

const routeFilter = refine(
  strictObject<HttpRouteFilter>({
    type: required(oneOf(Object.keys(FILTER_FIELD) as HttpRouteFilterType[])),
    requestHeaderModifier: optional(headerModifier),
    responseHeaderModifier: optional(headerModifier),
    urlRewrite: optional(urlRewrite),
    requestRedirect: optional(requestRedirect),
    requestMirror: optional(requestMirror),
    cors: optional(cors),
  }),
  (f) => {
    const field = FILTER_FIELD[f.type];
    if (!f[field]) return { path: '', message: `expected ${field} when type is ${f.type}` };
    const extra = Object.values(FILTER_FIELD).find((other) => other !== field && f[other] !== undefined);
    return extra ? { path: extra, message: `expected only ${field} when type is ${f.type}` } : undefined;
  },
);

/**
 * Filters a backendRef may carry. Envoy applies header changes per weighted cluster; a redirect
 * never reaches a backend, and a mirror or CORS policy belongs to the route.
 */
const BACKEND_FILTER_TYPES: readonly HttpRouteFilterType[] = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'URLRewrite'];

const backendRef = refine(
  strictObject<BackendRef>({
    group: withDefault(text, ''),
    kind: withDefault(string(), 'Service'),
    name: required(dnsName),
    namespace: optional(dnsName),
    port: optional(port),
    weight: withDefault(integer(0, 1_000_000), 1),
    filters: withDefault(list(routeFilter), []),
  }),
  (b) => {
    if (b.kind === 'Service' && b.port === undefined) return { path: '', message: 'missing required field "port" (required when kind is Service)' };
    const index = b.filters.findIndex((f) => !BACKEND_FILTER_TYPES.includes(f.type));
    if (index >= 0) {
      const type = (b.filters[index] as HttpRouteFilter).type;
      const why =
        type === 'RequestRedirect' ? 'a redirect answers the client and never reaches a backend; put it in the rule\'s filters (without backendRefs)' : `put ${type} in the rule's filters`;
      return { path: `filters`, message: `filters[${index}]: ${type} is not supported on a backendRef (${BACKEND_FILTER_TYPES.join(', ')} are): ${why}` };
    }
    return duplicateFilter(b.filters);
  },
);

/** Each filter type at most once, except RequestMirror (Gateway API). */
function duplicateFilter(filters: readonly HttpRouteFilter[]): { path: string; message: string } | undefined {
  const seen = new Set<string>();
  for (const [i, f] of filters.entries()) {
    if (f.type !== 'RequestMirror' && seen.has(f.type)) return { path: 'filters', message: `filters[${i}]: ${f.type} appears twice (only RequestMirror may repeat)` };
    seen.add(f.type);
  }
  return undefined;
}

/** Gateway API SectionName, as rule names use it. */
const sectionName = matching(/^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$/, 'a name of a-z, 0-9 and "-"');

const routeRule = refine(
  strictObject<HttpRouteRule>({
    name: optional(sectionName),
    matches: withDefault(list(routeMatch), []),
    filters: withDefault(list(routeFilter), []),
    backendRefs: withDefault(list(backendRef), []),
    timeouts: optional(strictObject({ request: optional(duration), backendRequest: optional(duration) })),
    retry: optional(strictObject({ attempts: optional(integer(0, 100)), codes: withDefault(list(integer(400, 599)), []), backoff: optional(duration) })),
  }),
  (r) => {
    const dup = duplicateFilter(r.filters);
    if (dup) return dup;
    const types = new Set(r.filters.map((f) => f.type));
    if (types.has('RequestRedirect') && types.has('URLRewrite')) return { path: 'filters', message: 'expected either RequestRedirect or URLRewrite, not both' };
    if (types.has('RequestRedirect') && r.backendRefs.length > 0) return { path: 'backendRefs', message: 'expected no backendRefs with a RequestRedirect filter (the redirect is the answer)' };
    // ReplacePrefixMatch replaces the matched prefix, so there must be exactly one, a PathPrefix.
    const prefixModifiers = [...r.filters, ...r.backendRefs.flatMap((b) => b.filters)].filter(
      (f) => (f.urlRewrite?.path ?? f.requestRedirect?.path)?.type === 'ReplacePrefixMatch',
    );
    const onePrefixMatch = r.matches.length === 0 || (r.matches.length === 1 && (r.matches[0]?.path?.type ?? 'PathPrefix') === 'PathPrefix');
    if (prefixModifiers.length > 0 && !onePrefixMatch) return { path: 'matches', message: 'expected exactly one PathPrefix match with a ReplacePrefixMatch path modifier' };
    const backendRewrite = r.backendRefs.findIndex((b) => b.filters.some((f) => f.type === 'URLRewrite'));
    if (backendRewrite >= 0 && (r.backendRefs.length > 1 || types.has('URLRewrite'))) {
      return {
        path: 'backendRefs',
        message: `backendRefs[${backendRewrite}]: URLRewrite on a backendRef is supported only on a rule's single backend without a rule-level URLRewrite (Envoy rewrites the path per route, not per weighted cluster)`,
      };
    }
    const request = r.timeouts?.request === undefined ? undefined : gatewayDurationMs(r.timeouts.request);
    const backend = r.timeouts?.backendRequest === undefined ? undefined : gatewayDurationMs(r.timeouts.backendRequest);
    if (request && backend !== undefined && backend > request) return { path: 'timeouts.backendRequest', message: `expected a backendRequest timeout no longer than the request timeout (${r.timeouts?.request})` };
    return undefined;
  },
);

const httpRoute = refine(
  closed(
    object<Body<HttpRoute>>({
      kind: fixed('HTTPRoute'),
      ...namespacedMetadata,
      parentRefs: required(list(parentRef), 'spec.parentRefs'),
      hostnames: withDefault(strings, [], 'spec.hostnames'),
      rules: withDefault(list(routeRule), [], 'spec.rules'),
    }),
    ['parentRefs', 'hostnames', 'rules'],
    'spec',
  ),
  (r) => {
    if (r.parentRefs.length === 0) return { path: 'spec.parentRefs', message: 'expected at least one parentRef' };
    const twice = duplicate(r.rules.flatMap((rule) => (rule.name ? [rule.name] : [])));
    return twice ? { path: 'spec.rules', message: `expected unique rule names, "${twice}" appears twice` } : undefined;
  },
);

const grantFrom = strictObject<ReferenceGrant['from'][number]>({ group: required(text), kind: required(string()), namespace: required(dnsName) });
const grantTo = strictObject<ReferenceGrant['to'][number]>({ group: required(text), kind: required(string()), name: optional(dnsName) });

const referenceGrant = refine(
  closed(
    object<Body<ReferenceGrant>>({
      kind: fixed('ReferenceGrant'),
      ...namespacedMetadata,
      from: required(list(grantFrom), 'spec.from'),
      to: required(list(grantTo), 'spec.to'),
    }),
    ['from', 'to'],
    'spec',
  ),
  (g) => (g.from.length === 0 ? { path: 'spec.from', message: 'expected at least one entry' } : g.to.length === 0 ? { path: 'spec.to', message: 'expected at least one entry' } : undefined),
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
  AuthorizationPolicy: spec<AuthorizationPolicy>(ISTIO_SECURITY, true, authorizationPolicy),
  PeerAuthentication: spec<PeerAuthentication>(ISTIO_SECURITY, true, peerAuthentication),
  Gateway: spec(GATEWAY_API, true, gateway),
  HTTPRoute: spec(GATEWAY_API, true, httpRoute),
  ReferenceGrant: spec(['gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1'], true, referenceGrant),
};

export function isKnownKind(kind: string): kind is MeshResourceKind {
  return Object.hasOwn(KINDS, kind);
}
