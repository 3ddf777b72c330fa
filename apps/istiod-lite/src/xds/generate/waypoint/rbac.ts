/**
 * L7 AuthorizationPolicy → Envoy HTTP RBAC filters for a waypoint (`envoy.filters.http.rbac`).
 * A policy applies to a waypoint's service when its `targetRefs` name that Service (kind
 * Service) or the waypoint's Gateway (kind Gateway: every service it serves). Policies with a
 * `selector` or without targetRefs are enforced by ztunnel at the pod, not here.
 *
 * Same order and key format as the ztunnel generator (../rbac.ts): a DENY filter with every
 * DENY rule, then an ALLOW filter with every ALLOW rule; one RBAC policy per rule keyed
 * `ns[<ns>]-policy[<name>]-rule[<i>]`, so a 403 names the policy in the access log.
 *
 * The waypoint sees the request, so methods, paths and hosts are enforced (ztunnel must drop
 * them). Paths use Istio's patterns: exact, `prefix*`, `*suffix`, `*`. Conditions the waypoint
 * cannot evaluate fail closed like ztunnel's: the rule matches nothing in ALLOW, and is dropped
 * in DENY (denying on the rest of the rule).
 */
import type { AuthorizationAction, AuthorizationCondition, AuthorizationOperation, AuthorizationPolicy, Gateway, MeshSnapshot, Service } from '@mesh/mesh-model';
import { extension, type JsonObject } from '../envoy.js';
import { rbacPolicyKey } from '../names.js';
import { NEVER, andIds, andRules, field, ipPrincipal, namespaceMatcher, notId, notRule, orIds, orRules, portPermission, principalMatcher, sourcePrincipal } from '../rbac.js';
import { WAYPOINT_TYPE } from './names.js';

const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/** Policies whose targetRefs name `service` or the waypoint `gateway`, sorted by namespace/name. */
export function policiesForWaypointService(snapshot: MeshSnapshot, gateway: Gateway, service: Service): AuthorizationPolicy[] {
  return [...snapshot.authorizationPolicies.values()].filter((policy) =>
    policy.targetRefs.some((ref) => {
      const namespace = ref.namespace ?? policy.namespace;
      if (ref.kind === 'Service' && (ref.group === '' || ref.group === 'core')) return ref.name === service.name && namespace === service.namespace;
      if (ref.kind === 'Gateway' && (ref.group === GATEWAY_API_GROUP || ref.group === '')) return ref.name === gateway.name && namespace === gateway.namespace;
      return false;
    }),
  );
}

const methodPermission = (method: string): JsonObject => ({ header: { name: ':method', string_match: { exact: method } } });
const hostPermission = (host: string): JsonObject => ({ header: { name: ':authority', string_match: istioPattern(host, true) } });
const pathPermission = (path: string): JsonObject => ({ url_path: { path: istioPattern(path, false) } });

/** Istio's string patterns: `*` any, `prefix*`, `*suffix`, else exact. */
function istioPattern(pattern: string, ignoreCase: boolean): JsonObject {
  const fold: JsonObject = ignoreCase ? { ignore_case: true } : {};
  if (pattern === '*') return { safe_regex: { regex: '.*' } };
  if (pattern.endsWith('*')) return { prefix: pattern.slice(0, -1), ...fold };
  if (pattern.startsWith('*')) return { suffix: pattern.slice(1), ...fold };
  return { exact: pattern, ...fold };
}

function operationPermission(op: AuthorizationOperation): JsonObject {
  return andRules([
    ...field(op.ports, op.notPorts, portPermission, orRules, notRule),
    ...field(op.methods, op.notMethods, methodPermission, orRules, notRule),
    ...field(op.paths, op.notPaths, pathPermission, orRules, notRule),
    ...field(op.hosts, op.notHosts, hostPermission, orRules, notRule),
  ]);
}

const HEADER_CONDITION = /^request\.headers\[(.+)\]$/;

function conditionParts(when: readonly AuthorizationCondition[], action: AuthorizationAction): { principals: JsonObject[]; permissions: JsonObject[]; never: boolean } {
  const principals: JsonObject[] = [];
  const permissions: JsonObject[] = [];
  let never = false;
  for (const c of when) {
    const header = HEADER_CONDITION.exec(c.key)?.[1];
    if (header !== undefined) {
      const one = (v: string): JsonObject => ({ header: { name: header.toLowerCase(), string_match: istioPattern(v, false) } });
      permissions.push(...field(c.values, c.notValues, one, orRules, notRule));
    } else if (c.key === 'source.principal') principals.push(...field(c.values, c.notValues, principalMatcher, orIds, notId));
    else if (c.key === 'source.namespace') principals.push(...field(c.values, c.notValues, namespaceMatcher, orIds, notId));
    else if (c.key === 'source.ip') principals.push(...field(c.values, c.notValues, ipPrincipal, orIds, notId));
    else if (c.key === 'destination.port') permissions.push(...field(c.values, c.notValues, portPermission, orRules, notRule));
    else if (action === 'ALLOW') never = true;
  }
  return { principals, permissions, never };
}

function rulePolicy(rule: AuthorizationPolicy['rules'][number], action: AuthorizationAction): JsonObject {
  const when = conditionParts(rule.when, action);
  const from = rule.from.length > 0 ? [orIds(rule.from.map((f) => sourcePrincipal(f.source)))] : [];
  const to = rule.to.length > 0 ? [orRules(rule.to.map((t) => operationPermission(t.operation)))] : [];
  const permission = when.never ? NEVER : andRules([...to, ...when.permissions]);
  return { permissions: [permission], principals: [andIds([...from, ...when.principals])] };
}

function httpRbacFilter(action: AuthorizationAction, policies: readonly AuthorizationPolicy[]): JsonObject {
  const rules: Record<string, JsonObject> = {};
  for (const policy of policies) {
    policy.rules.forEach((rule, i) => {
      rules[rbacPolicyKey(policy.namespace, policy.name, i)] = rulePolicy(rule, action);
    });
  }
  return extension('envoy.filters.http.rbac', WAYPOINT_TYPE.httpRbac, { rules: { action, policies: rules } });
}

/** DENY filter first, then ALLOW; none when no policy targets the service. */
export function httpRbacFilters(policies: readonly AuthorizationPolicy[]): JsonObject[] {
  const deny = policies.filter((p) => p.action === 'DENY');
  const allow = policies.filter((p) => p.action === 'ALLOW');
  return [...(deny.length > 0 ? [httpRbacFilter('DENY', deny)] : []), ...(allow.length > 0 ? [httpRbacFilter('ALLOW', allow)] : [])];
}

