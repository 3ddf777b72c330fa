/**
 * Mesh resources as the rest of the mesh sees them: the Kubernetes manifests flattened to the
 * fields the mesh uses (`metadata.name` → `name`, `spec.x` → `x`). Every resource carries the
 * file and line it came from so later stages (istiod-lite, meshctl) can point at the source.
 *
 * Field names follow the Kubernetes / Istio / Gateway API spelling so a reader can map them back
 * to the manifest without a table.
 */

export type Labels = Readonly<Record<string, string>>;

/** Where a resource was declared. */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
}

interface Meta {
  readonly name: string;
  readonly labels: Labels;
  readonly annotations: Labels;
  readonly source?: SourceRef;
}

interface NamespacedMeta extends Meta {
  readonly namespace: string;
}

export interface Namespace extends Meta {
  readonly kind: 'Namespace';
}

export interface ServiceAccount extends NamespacedMeta {
  readonly kind: 'ServiceAccount';
}

/** A Kubernetes Node; `address` is its InternalIP (`status.addresses[type=InternalIP]`). */
export interface Node extends Meta {
  readonly kind: 'Node';
  readonly address: string;
  /** `spec.podCIDR`, when given. */
  readonly podCidr?: string;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

export interface Container {
  readonly name: string;
  readonly ports: readonly ContainerPort[];
}

export interface Pod extends NamespacedMeta {
  readonly kind: 'Pod';
  /** `spec.serviceAccountName`; Kubernetes defaults it to `default`. */
  readonly serviceAccountName: string;
  readonly nodeName: string;
  /** `status.podIP`; a pod without one is not scheduled yet and has no endpoints. */
  readonly podIP?: string;
  /** `status.phase` is Running and no `Ready` condition says False. */
  readonly ready: boolean;
  /** `spec.hostNetwork`: the pod shares its node's address and is never captured. */
  readonly hostNetwork: boolean;
  readonly containers: readonly Container[];
}

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  /** A number, or the name of a container port; defaults to `port`. */
  readonly targetPort: number | string;
  readonly protocol: Protocol;
  readonly appProtocol?: string;
}

export interface Service extends NamespacedMeta {
  readonly kind: 'Service';
  readonly clusterIP?: string;
  readonly ports: readonly ServicePort[];
  /** Absent or empty: the service selects no pods (its endpoints are managed elsewhere). */
  readonly selector?: Labels;
}

export interface LabelSelector {
  readonly matchLabels: Labels;
}

/**
 * What a policy's `targetRefs` (or the deprecated singular `targetRef`, which the parser folds
 * into `targetRefs`) names. Istio accepts Service (group "" or "core"), Gateway and GatewayClass
 * (group gateway.networking.k8s.io) and ServiceEntry (group networking.istio.io), always in the
 * policy's own namespace.
 */
export interface PolicyTargetRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

/**
 * AuthorizationPolicy `rules[].from[].source`. Fields AND, values within a field OR, `not*`
 * negate. Which proxy can enforce which field: docs/authorization.md.
 */
export interface AuthorizationSource {
  /** Peer identities `<trust domain>/ns/<ns>/sa/<sa>` from the peer certificate (`*`, `x*`, `*x`). */
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  /** `<iss>/<sub>` of the request's validated JWT (HTTP only). */
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  /** Namespace of the peer identity. */
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  /** `<ns>/<sa>`, or `<sa>` in the policy's namespace; no wildcards. */
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  /** Trust domain of the peer identity (Istio's extended channel). */
  readonly trustDomains?: readonly string[];
  readonly notTrustDomains?: readonly string[];
  /** Source address of the connection. */
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  /** Original client address (X-Forwarded-For or proxy protocol; HTTP in ambient). */
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

export interface AuthorizationOperation {
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  /** Istio patterns (`/a`, `/a*`, `*a`, `*`) or path templates with `{*}` / `{**}`. */
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
}

/** A `when` condition; `key` is one of Istio's documented attributes (checked by the parser). */
export interface AuthorizationCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthorizationRule {
  readonly from: readonly { readonly source: AuthorizationSource }[];
  readonly to: readonly { readonly operation: AuthorizationOperation }[];
  readonly when: readonly AuthorizationCondition[];
}

/**
 * ALLOW, DENY, and AUDIT (marks matching requests for audit logging and never changes a
 * decision). CUSTOM is refused by the parser: it hands the decision to an ext_authz extension
 * provider, and this mesh has none.
 */
export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT';

/**
 * security.istio.io/v1 AuthorizationPolicy. As in Istio, an ALLOW policy with no rules matches
 * nothing (so it denies everything it selects), and a rule with no from/to/when matches all.
 */
export interface AuthorizationPolicy extends NamespacedMeta {
  readonly kind: 'AuthorizationPolicy';
  readonly selector?: LabelSelector;
  /** `spec.targetRefs`, or `[spec.targetRef]`; empty when the policy selects workloads. */
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly action: AuthorizationAction;
  readonly rules: readonly AuthorizationRule[];
  /**
   * `metadata.annotations["istio.io/dry-run"]` is true: the policy is evaluated and its result
   * reported (logs, metrics), never enforced.
   */
  readonly dryRun: boolean;
}

export type MtlsMode = 'UNSET' | 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface PeerAuthentication extends NamespacedMeta {
  readonly kind: 'PeerAuthentication';
  readonly selector?: LabelSelector;
  /** `spec.mtls.mode`; UNSET inherits from the namespace, then the mesh. */
  readonly mtlsMode: MtlsMode;
  /**
   * `spec.portLevelMtls`: mode per workload (container) port, overriding `mtlsMode` there;
   * only with a selector. UNSET inherits the workload's mode.
   */
  readonly portLevelMtls: Readonly<Record<number, MtlsMode>>;
  /** `metadata.creationTimestamp`, when given: within a level the oldest policy wins (Istio). */
  readonly creationTimestamp?: string;
}

export interface GatewayListener {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly hostname?: string;
}

export interface GatewayAddress {
  readonly type: string;
  readonly value: string;
}

/** gateway.networking.k8s.io/v1 Gateway; a waypoint when `gatewayClassName` is `istio-waypoint`. */
export interface Gateway extends NamespacedMeta {
  readonly kind: 'Gateway';
  readonly gatewayClassName: string;
  readonly listeners: readonly GatewayListener[];
  /** `spec.addresses` then `status.addresses`. */
  readonly addresses: readonly GatewayAddress[];
}

export interface ParentRef {
  readonly group: string;
  /** `Gateway` (the default) or `Service`. */
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly port?: number;
  readonly sectionName?: string;
}

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';

export interface HttpRouteMatch {
  readonly path?: { readonly type: PathMatchType; readonly value: string };
  readonly headers: readonly { readonly type: ValueMatchType; readonly name: string; readonly value: string }[];
  readonly queryParams: readonly { readonly type: ValueMatchType; readonly name: string; readonly value: string }[];
  readonly method?: string;
}

export interface HeaderModifier {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

/** How a URLRewrite or RequestRedirect changes the path. */
export interface HttpPathModifier {
  readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  readonly replaceFullPath?: string;
  readonly replacePrefixMatch?: string;
}

export interface UrlRewrite {
  readonly hostname?: string;
  readonly path?: HttpPathModifier;
}

export type RedirectStatusCode = 301 | 302 | 303 | 307 | 308;

/** RequestRedirect: the waypoint answers the client with a redirect; no backend is called. */
export interface RequestRedirect {
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly path?: HttpPathModifier;
  readonly port?: number;
  /** Gateway API default: 302. */
  readonly statusCode: RedirectStatusCode;
}

/** A reference to a backend object (Gateway API BackendObjectReference). */
export interface BackendObjectRef {
  /** `""` (or `core`) for a Service. */
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly port?: number;
}

/** RequestMirror: a copy of each request (or of `percent`/`fraction` of them) goes to another backend; its answer is dropped. */
export interface RequestMirror {
  readonly backendRef: BackendObjectRef;
  readonly percent?: number;
  readonly fraction?: { readonly numerator: number; readonly denominator: number };
}

/** CORS (Gateway API HTTPCORSFilter). */
export interface CorsPolicy {
  /** `*`, or `scheme://host[:port]` where the host may start with `*.`. */
  readonly allowOrigins: readonly string[];
  /** Methods, or `["*"]`. */
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  /** Seconds a preflight answer may be cached; Gateway API default 5. */
  readonly maxAge: number;
}

export type HttpRouteFilterType = 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'URLRewrite' | 'RequestRedirect' | 'RequestMirror' | 'CORS';

export interface HttpRouteFilter {
  readonly type: HttpRouteFilterType;
  readonly requestHeaderModifier?: HeaderModifier;
  readonly responseHeaderModifier?: HeaderModifier;
  readonly urlRewrite?: UrlRewrite;
  readonly requestRedirect?: RequestRedirect;
  readonly requestMirror?: RequestMirror;
  readonly cors?: CorsPolicy;
}

export interface BackendRef extends BackendObjectRef {
  /** Relative weight; Gateway API defaults it to 1. */
  readonly weight: number;
  /** Filters applied only to requests sent to this backend. */
  readonly filters: readonly HttpRouteFilter[];
}

export interface HttpRouteRule {
  /** Gateway API named rule (`rules[].name`): names the generated route. */
  readonly name?: string;
  readonly matches: readonly HttpRouteMatch[];
  readonly filters: readonly HttpRouteFilter[];
  readonly backendRefs: readonly BackendRef[];
  /** Gateway API durations as written (`10s`, `500ms`). */
  readonly timeouts?: { readonly request?: string; readonly backendRequest?: string };
  readonly retry?: { readonly attempts?: number; readonly codes: readonly number[]; readonly backoff?: string };
}

export interface HttpRoute extends NamespacedMeta {
  readonly kind: 'HTTPRoute';
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly HttpRouteRule[];
}

/**
 * gateway.networking.k8s.io/v1beta1 ReferenceGrant: lives in the namespace of the things it
 * shares (`to`) and names the kinds and namespaces allowed to refer to them (`from`).
 */
export interface ReferenceGrant extends NamespacedMeta {
  readonly kind: 'ReferenceGrant';
  readonly from: readonly { readonly group: string; readonly kind: string; readonly namespace: string }[];
  /** `name` absent: every object of that group and kind in the grant's namespace. */
  readonly to: readonly { readonly group: string; readonly kind: string; readonly name?: string }[];
}

export type MeshResource =
  | Namespace
  | ServiceAccount
  | Node
  | Pod
  | Service
  | AuthorizationPolicy
  | PeerAuthentication
  | Gateway
  | HttpRoute
  | ReferenceGrant;

export type MeshResourceKind = MeshResource['kind'];

/** A manifest problem, located precisely enough to jump to it in an editor. */
export interface ManifestError {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** Field path inside the document, e.g. `spec.ports[0].targetPort`; empty for the whole document. */
  readonly path: string;
  /** Says what was expected, e.g. `expected an integer 1-65535, got "http"`. */
  readonly message: string;
  readonly kind?: string;
  readonly name?: string;
  /** The document's `metadata.namespace` as written, when it has one. */
  readonly namespace?: string;
  /** What kind of problem, stable for tools (`checkSnapshot`'s `SnapshotCheckCode`). */
  readonly code?: string;
}

export interface ParseResult {
  readonly resources: MeshResource[];
  readonly errors: ManifestError[];
}
