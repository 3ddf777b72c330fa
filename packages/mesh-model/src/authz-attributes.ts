/**
 * Which AuthorizationPolicy attributes each enforcement point can evaluate, in one table the
 * parser, the generators and the analyzer share (so the three cannot drift apart).
 *
 * Three places evaluate policy (docs/authorization.md):
 * - `ztunnel`: the destination node's ztunnel, per connection, for policies that select
 *   workloads. What it can see follows istiod's ambient conversion
 *   (pilot/pkg/serviceregistry/ambient/authorization.go): peer identity, namespace, service
 *   account, source and destination IP, destination port. Everything else is "HTTP" there,
 *   including remote.ip, connection.sni, source.serviceAccount and trust domains, which that
 *   conversion has no field for.
 * - `waypointTcp`: a waypoint's TCP (non-HTTP) chains. Istio builds them with its Envoy RBAC
 *   builder for TCP (pilot/pkg/security/authz/model/generator.go `forTCP`): what a network RBAC
 *   filter can read, which adds remote.ip, connection.sni and trust domains to the above.
 * - `waypointHttp`: a waypoint's HTTP chains: every attribute.
 *
 * An attribute a place cannot evaluate makes an ALLOW rule match nothing there (the rule is
 * omitted) and is left out of a DENY or AUDIT rule (the rule applies on its other attributes),
 * so a policy is never weaker than written: Istio's "more restrictive than requested".
 */

export type EnforcementPoint = 'ztunnel' | 'waypointTcp' | 'waypointHttp';

interface Reach {
  readonly ztunnel: boolean;
  readonly waypointTcp: boolean;
}

const L4: Reach = { ztunnel: true, waypointTcp: true };
const HTTP_ONLY: Reach = { ztunnel: false, waypointTcp: false };
/** Enforced by a waypoint's network RBAC but not by ztunnel (the ambient conversion has no field for it). */
const WAYPOINT_L4: Reach = { ztunnel: false, waypointTcp: true };

/** `rules[].from[].source` fields, by their positive name (the `not*` form shares the entry). */
export const SOURCE_FIELDS = {
  principals: L4,
  namespaces: L4,
  serviceAccounts: L4,
  ipBlocks: L4,
  trustDomains: WAYPOINT_L4,
  remoteIpBlocks: WAYPOINT_L4,
  requestPrincipals: HTTP_ONLY,
} as const satisfies Record<string, Reach>;

/** `rules[].to[].operation` fields, by their positive name. */
export const OPERATION_FIELDS = {
  ports: L4,
  methods: HTTP_ONLY,
  paths: HTTP_ONLY,
  hosts: HTTP_ONLY,
} as const satisfies Record<string, Reach>;

export type SourceField = keyof typeof SOURCE_FIELDS;
export type OperationField = keyof typeof OPERATION_FIELDS;

/** `when` keys written exactly; the bracketed ones (`request.headers[x]`) are below. */
const CONDITION_KEYS: Readonly<Record<string, Reach>> = {
  'source.ip': L4,
  'source.namespace': L4,
  'source.principal': L4,
  'destination.ip': L4,
  'destination.port': L4,
  // istiod's ambient conversion lists only the five above as L4 (its l4WhenAttributes).
  'source.serviceAccount': WAYPOINT_L4,
  'source.trustDomain': WAYPOINT_L4,
  'remote.ip': WAYPOINT_L4,
  'connection.sni': WAYPOINT_L4,
  'request.auth.principal': HTTP_ONLY,
  'request.auth.audiences': HTTP_ONLY,
  'request.auth.presenter': HTTP_ONLY,
};

/** `when` keys with a bracketed name: `request.headers[User-Agent]`, `request.auth.claims[iss]` (or nested `[a][b]`). */
const BRACKETED_KEYS: Readonly<Record<string, Reach>> = {
  'request.headers': HTTP_ONLY,
  'request.auth.claims': HTTP_ONLY,
};

/** Keys Istio's validation refuses, with its reason. */
const RETIRED_KEYS: Readonly<Record<string, string>> = {
  'destination.namespace': 'attribute destination.namespace is replaced by the metadata.namespace',
  'destination.labels': 'attribute destination.labels is replaced by the workload selector',
  'destination.name': 'deprecated attribute destination.name: only supported in v1alpha1',
  'destination.user': 'deprecated attribute destination.user: only supported in v1alpha1',
};

export type ConditionValueKind = 'ip' | 'port' | 'string';

export interface ConditionKey {
  readonly key: string;
  /** The attribute without its bracketed names: `request.headers`, `request.auth.claims`. */
  readonly attribute: string;
  /** `request.headers[x]` → `['x']`; `request.auth.claims[a][b]` → `['a', 'b']`. */
  readonly names: readonly string[];
  readonly reach: Reach;
  readonly values: ConditionValueKind;
}

/** The `when` keys a policy may use, for error messages. */
export const DOCUMENTED_CONDITION_KEYS: readonly string[] = [...Object.keys(CONDITION_KEYS), 'request.headers[<name>]', 'request.auth.claims[<name>]'];

/** Bracketed names of `request.headers[x]` / `request.auth.claims[a][b]`, or undefined when malformed. */
function bracketedNames(rest: string, nested: boolean): string[] | undefined {
  const names: string[] = [];
  const pattern = /^\[([^[\]]+)\]/;
  let remaining = rest;
  while (remaining.length > 0) {
    const m = pattern.exec(remaining);
    if (!m) return undefined;
    names.push(m[1] as string);
    remaining = remaining.slice(m[0].length);
  }
  if (names.length === 0 || (!nested && names.length > 1)) return undefined;
  return names;
}

/** Classifies a `when` key, or says why it is not one (Istio's validation wording where it has one). */
export function conditionKey(key: string): ConditionKey | { readonly error: string } {
  const exact = CONDITION_KEYS[key];
  if (exact) {
    const values: ConditionValueKind = key.endsWith('.ip') ? 'ip' : key === 'destination.port' ? 'port' : 'string';
    return { key, attribute: key, names: [], reach: exact, values };
  }
  for (const [attribute, reach] of Object.entries(BRACKETED_KEYS)) {
    if (!key.startsWith(attribute)) continue;
    const names = bracketedNames(key.slice(attribute.length), attribute === 'request.auth.claims');
    if (!names) return { error: `bad key (${key}): should have format ${attribute}[<name>]` };
    return { key, attribute, names, reach, values: 'string' };
  }
  const retired = Object.entries(RETIRED_KEYS).find(([k]) => key === k || key.startsWith(`${k}[`));
  if (retired) return { error: retired[1] };
  if (key.startsWith('experimental.envoy.filters.')) {
    return { error: `${key} reads Envoy filter metadata, which no proxy of this mesh produces; it is not supported` };
  }
  return { error: `unknown attribute: ${key} (expected one of ${DOCUMENTED_CONDITION_KEYS.join(', ')})` };
}

/** Whether `point` can evaluate a source field / operation field / condition. */
export function reaches(reach: Reach, point: EnforcementPoint): boolean {
  return point === 'waypointHttp' || reach[point];
}
