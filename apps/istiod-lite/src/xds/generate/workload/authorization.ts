/**
 * AuthorizationPolicy and PeerAuthentication → `istio.security.Authorization`, as istiod's
 * ambient index converts them for ztunnel (pilot/pkg/serviceregistry/ambient/authorization.go):
 *
 * - Policies with targetRefs bind to a Service or Gateway and are a waypoint's business: not sent.
 * - Scope: a selector → WORKLOAD_SELECTOR (the selected workloads list the policy); none →
 *   NAMESPACE, or GLOBAL in the root namespace.
 * - One Group per rule; in it one Rules entry for `to` (a Match per operation: ports), one for
 *   `from` (a Match per source: principals, namespaces, ipBlocks), and one per L4 `when`
 *   condition. Principal and namespace patterns: `*` → presence, `*x` → suffix, `x*` → prefix.
 * - ztunnel sees only L4. An ALLOW rule with HTTP attributes (methods, paths, hosts, non-L4
 *   `when` keys) is dropped (it can never match, which is more restrictive); a DENY rule keeps
 *   its L4 attributes and is enforced without the HTTP ones, as Istio's ambient documentation
 *   states. Where istiod would emit a Match with no L4 field for such an entry (which ztunnel
 *   treats as matching nothing, so the DENY would not apply), this generator leaves the entry's
 *   clause out instead, so the rule denies on its L4 attributes alone. The Envoy dialect does the
 *   same (generate/rbac.ts), so both dialects decide alike.
 * - PeerAuthentication: whenever one exists, the static `istio-system/istio_converted_static_strict`
 *   policy (DENY peers without an identity) is sent, and each workload whose effective mode is
 *   STRICT lists it; a workload PeerAuthentication with port-level modes converts to its own
 *   DENY policy (peer-authentication.ts).
 *
 * Pure: snapshot in, resources out.
 */
import { isIP } from 'node:net';
import { SOURCE_FIELDS, reaches, type AuthorizationCondition, type AuthorizationOperation, type AuthorizationPolicy, type AuthorizationRule, type AuthorizationSource, type MeshSnapshot, type SourceField } from '@mesh/mesh-model';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { ipToBase64 } from '@mesh/workload-api';
/** Resources are plain proto3-JSON; @mesh/xds validates them when encoding. */
type JsonObject = Record<string, unknown>;
import { STATIC_STRICT_POLICY_NAME } from './names.js';
import { convertPeerAuthentication } from './peer-authentication.js';

type Match = Record<string, JsonObject[] | number[]>;

/** Istio's string patterns: `*` any non-empty value, `*suffix`, `prefix*`, else exact. */
function stringMatches(patterns: readonly string[] | undefined): JsonObject[] {
  return (patterns ?? []).map((p) =>
    p === '*' ? { presence: {} } : p.startsWith('*') ? { suffix: p.slice(1) } : p.endsWith('*') ? { prefix: p.slice(0, -1) } : { exact: p },
  );
}

/** Valid ports only, as istiod's stringToPort (an invalid port is skipped). */
function ports(values: readonly string[] | undefined): number[] {
  return (values ?? []).map(Number).filter((p) => Number.isInteger(p) && p >= 0 && p <= 65_535);
}

/** `10.0.0.0/8` or a bare IP (a /32 or /128); unparsable entries are skipped, as istiod does. */
function addresses(values: readonly string[] | undefined): JsonObject[] {
  const out: JsonObject[] = [];
  for (const value of values ?? []) {
    const [ip = '', len] = value.split('/');
    const family = isIP(ip);
    if (family === 0) continue;
    const max = family === 6 ? 128 : 32;
    const length = len === undefined ? max : Number(len);
    if (!Number.isInteger(length) || length < 0 || length > max) continue;
    out.push({ address: ipToBase64(ip), length });
  }
  return out;
}

/** A Match with only the kinds that have values (proto3 JSON leaves empty lists out). */
function match(kinds: Record<string, JsonObject[] | number[]>): Match {
  return Object.fromEntries(Object.entries(kinds).filter(([, values]) => values.length > 0));
}

const isEmpty = (m: Match) => Object.keys(m).length === 0;

function hasHttpOperation(op: AuthorizationOperation): boolean {
  return [op.methods, op.notMethods, op.paths, op.notPaths, op.hosts, op.notHosts].some((v) => v !== undefined && v.length > 0);
}

function operationMatch(op: AuthorizationOperation): Match {
  return match({ destination_ports: ports(op.ports), not_destination_ports: ports(op.notPorts) });
}

/** `ns/sa`, or `sa` in the policy's namespace (istiod's stringToServiceAccountMatch). */
function serviceAccountMatches(values: readonly string[] | undefined, policyNamespace: string): JsonObject[] {
  return (values ?? []).map((v) => {
    const [ns, sa] = v.includes('/') ? v.split('/') : [policyNamespace, v];
    // Istio's proto spells this field in lowerCamel (ServiceAccountMatch.serviceAccount).
    return { namespace: ns, serviceAccount: sa };
  });
}

function sourceMatch(source: AuthorizationSource, policyNamespace: string): Match {
  return match({
    source_ips: addresses(source.ipBlocks),
    not_source_ips: addresses(source.notIpBlocks),
    namespaces: stringMatches(source.namespaces),
    not_namespaces: stringMatches(source.notNamespaces),
    service_accounts: serviceAccountMatches(source.serviceAccounts, policyNamespace),
    not_service_accounts: serviceAccountMatches(source.notServiceAccounts, policyNamespace),
    principals: stringMatches(source.principals),
    not_principals: stringMatches(source.notPrincipals),
  });
}

/** Source fields ztunnel cannot see (remoteIpBlocks, requestPrincipals, trustDomains: mesh-model's attribute table). */
function hasHttpSource(source: AuthorizationSource): boolean {
  return (Object.keys(SOURCE_FIELDS) as SourceField[]).some((field) => {
    if (reaches(SOURCE_FIELDS[field], 'ztunnel')) return false;
    const not = `not${field[0]?.toUpperCase()}${field.slice(1)}` as keyof AuthorizationSource;
    return (source[field]?.length ?? 0) > 0 || (source[not]?.length ?? 0) > 0;
  });
}

/** The L4 `when` keys ztunnel evaluates, and the Match field each fills. */
const L4_CONDITIONS: Record<string, { field: string; notField: string; convert: (values: readonly string[] | undefined) => JsonObject[] | number[] }> = {
  'source.namespace': { field: 'namespaces', notField: 'not_namespaces', convert: stringMatches },
  'source.principal': { field: 'principals', notField: 'not_principals', convert: stringMatches },
  'source.ip': { field: 'source_ips', notField: 'not_source_ips', convert: addresses },
  'destination.port': { field: 'destination_ports', notField: 'not_destination_ports', convert: ports },
  'destination.ip': { field: 'destination_ips', notField: 'not_destination_ips', convert: addresses },
};

function conditionMatch(c: AuthorizationCondition): Match | undefined {
  const known = L4_CONDITIONS[c.key];
  return known ? match({ [known.field]: known.convert(c.values), [known.notField]: known.convert(c.notValues) }) : undefined;
}

/** One rule → a Group's `rules`, or undefined when the rule is dropped (ALLOW with HTTP attributes). */
function ruleGroup(rule: AuthorizationRule, action: 'ALLOW' | 'DENY', policyNamespace: string): JsonObject[] | undefined {
  const http = rule.to.some((t) => hasHttpOperation(t.operation)) || rule.from.some((f) => hasHttpSource(f.source)) || rule.when.some((c) => !L4_CONDITIONS[c.key]);
  if (action === 'ALLOW' && http) return undefined;
  const clauses: Match[][] = [];
  const to = rule.to.map((t) => operationMatch(t.operation));
  // An entry with no L4 field matches any connection, and so does the clause it is part of.
  if (to.length > 0 && !to.some(isEmpty)) clauses.push(to);
  const from = rule.from.map((f) => sourceMatch(f.source, policyNamespace));
  if (from.length > 0 && !from.some(isEmpty)) clauses.push(from);
  for (const c of rule.when) {
    const m = conditionMatch(c);
    if (m && !isEmpty(m)) clauses.push([m]);
  }
  return clauses.map((matches) => ({ matches }));
}

/** What a policy binds to for ztunnel: nothing (targetRefs: a waypoint's), a selector, or its namespace. */
export function authorizationScope(policy: AuthorizationPolicy, rootNamespace: string): 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR' | undefined {
  if (policy.targetRefs.length > 0) return undefined;
  if (policy.selector) return 'WORKLOAD_SELECTOR';
  return policy.namespace === rootNamespace ? 'GLOBAL' : 'NAMESPACE';
}

export function convertAuthorizationPolicy(policy: AuthorizationPolicy, rootNamespace: string): ResourceJson | undefined {
  const scope = authorizationScope(policy, rootNamespace);
  // istiod sends ztunnel ALLOW and DENY only ("ztunnel does not support the AUDIT action").
  if (!scope || policy.action === 'AUDIT') return undefined;
  const action = policy.action;
  const groups = policy.rules.flatMap((rule) => {
    const rules = ruleGroup(rule, action, policy.namespace);
    return rules ? [rules.length > 0 ? { rules } : {}] : [];
  });
  // proto3 leaves enum zero values (GLOBAL, ALLOW) off the wire; the JSON says what is sent.
  return {
    '@type': TYPE_URL.AUTHORIZATION,
    name: policy.name,
    namespace: policy.namespace,
    ...(scope !== 'GLOBAL' ? { scope } : {}),
    ...(action !== 'ALLOW' ? { action } : {}),
    ...(groups.length > 0 ? { groups } : {}),
    ...(policy.dryRun ? { dry_run: true } : {}),
  };
}

/** DENY connections without a peer principal: what STRICT mTLS means at ztunnel. */
export function staticStrictPolicy(rootNamespace: string): ResourceJson {
  return {
    '@type': TYPE_URL.AUTHORIZATION,
    name: STATIC_STRICT_POLICY_NAME,
    namespace: rootNamespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    groups: [{ rules: [{ matches: [{ not_principals: [{ presence: {} }] }] }] }],
  };
}

/** Every Authorization of a snapshot, by resource name (`namespace/name`), sorted. */
export function authorizationResources(snapshot: MeshSnapshot): Map<string, ResourceJson> {
  const out = new Map<string, ResourceJson>();
  for (const policy of snapshot.authorizationPolicies.values()) {
    const converted = convertAuthorizationPolicy(policy, snapshot.rootNamespace);
    if (converted) out.set(`${policy.namespace}/${policy.name}`, converted);
  }
  if (snapshot.peerAuthentications.size > 0) out.set(`${snapshot.rootNamespace}/${STATIC_STRICT_POLICY_NAME}`, staticStrictPolicy(snapshot.rootNamespace));
  for (const pa of snapshot.peerAuthentications.values()) {
    const converted = convertPeerAuthentication(snapshot, pa);
    if (converted) out.set(`${pa.namespace}/${String(converted['name'])}`, converted);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
