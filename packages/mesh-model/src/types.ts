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

export interface PolicyTargetRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface AuthorizationSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
}

export interface AuthorizationOperation {
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
}

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

export type AuthorizationAction = 'ALLOW' | 'DENY';

/**
 * security.istio.io/v1 AuthorizationPolicy. As in Istio, an ALLOW policy with no rules matches
 * nothing (so it denies everything it selects), and a rule with no from/to/when matches all.
 */
export interface AuthorizationPolicy extends NamespacedMeta {
  readonly kind: 'AuthorizationPolicy';
  readonly selector?: LabelSelector;
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly action: AuthorizationAction;
  readonly rules: readonly AuthorizationRule[];
}

export type MtlsMode = 'UNSET' | 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface PeerAuthentication extends NamespacedMeta {
  readonly kind: 'PeerAuthentication';
  readonly selector?: LabelSelector;
  /** `spec.mtls.mode`; UNSET inherits from the namespace, then the mesh. */
  readonly mtlsMode: MtlsMode;
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

export interface UrlRewrite {
  readonly hostname?: string;
  readonly path?: {
    readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
    readonly replaceFullPath?: string;
    readonly replacePrefixMatch?: string;
  };
}

export interface HttpRouteFilter {
  readonly type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'URLRewrite';
  readonly requestHeaderModifier?: HeaderModifier;
  readonly responseHeaderModifier?: HeaderModifier;
  readonly urlRewrite?: UrlRewrite;
}

export interface BackendRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly port?: number;
  /** Relative weight; Gateway API defaults it to 1. */
  readonly weight: number;
}

export interface HttpRouteRule {
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

export type MeshResource =
  | Namespace
  | ServiceAccount
  | Node
  | Pod
  | Service
  | AuthorizationPolicy
  | PeerAuthentication
  | Gateway
  | HttpRoute;

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
}

export interface ParseResult {
  readonly resources: MeshResource[];
  readonly errors: ManifestError[];
}
