/**
 * AuthorizationPolicy → Envoy RBAC configs, for the three places that enforce policy
 * (mesh-model `EnforcementPoint`, docs/authorization.md):
 * - `ztunnel`: network RBAC on ztunnel's inbound chains, with the semantics of istiod's ambient
 *   conversion (pilot/pkg/serviceregistry/ambient/authorization.go): ALLOW and DENY only (AUDIT
 *   is not sent to ztunnel), L4 attributes only.
 * - `waypointTcp`: network RBAC on a waypoint's TCP chains, as Istio's Envoy builder does for TCP
 *   (pilot/pkg/security/authz/builder, `forTCP`).
 * - `waypointHttp`: HTTP RBAC on a waypoint's HTTP chains: every attribute.
 *
 * As in Istio's builder: one filter per action, AUDIT (Envoy LOG) first, then DENY, then ALLOW;
 * one RBAC policy per rule keyed `ns[<ns>]-policy[<name>]-rule[<i>]`; a policy without rules
 * becomes a never-matching entry (so an ALLOW policy without rules denies everything); policies
 * annotated `istio.io/dry-run` go to the filter's `shadow_rules` (prefix
 * `istio_dry_run_<allow|deny>_`), which are evaluated and reported and never enforced.
 *
 * Rule semantics: `from` entries OR, fields within a source AND, values within a field OR,
 * `not*` negated; the same for `to`; every `when` condition ANDs. An attribute the enforcement
 * point cannot evaluate makes an ALLOW rule match nothing (the rule is left out) and is dropped
 * from a DENY or AUDIT rule, which then applies on its remaining attributes (an emptied
 * `from`/`to`/`when` part matches anything): Istio's "more restrictive than requested".
 */
import {
  OPERATION_FIELDS,
  SOURCE_FIELDS,
  conditionKey,
  reaches,
  type AuthorizationAction,
  type AuthorizationCondition,
  type AuthorizationPolicy,
  type EnforcementPoint,
  type OperationField,
  type SourceField,
} from '@mesh/mesh-model';
import { TYPE, any, cidrFromString, extension, type JsonObject } from './envoy.js';
import { rbacPolicyKey } from './names.js';

/** Stat prefix of the network RBAC filters, as in Istio's `ztunnel_inbound` and its TCP filters. */
export const RBAC_STAT_PREFIX = 'tcp.';
/** Istio's `shadow_rules_stat_prefix` for dry-run policies. */
export const DRY_RUN_STAT_PREFIX = { ALLOW: 'istio_dry_run_allow_', DENY: 'istio_dry_run_deny_' } as const;

export const ANY: JsonObject = { any: true };
export const NEVER: JsonObject = { not_rule: ANY };
/** Istio's rbacPolicyMatchNever: the entry of a policy without rules. */
const MATCH_NEVER: JsonObject = { permissions: [NEVER], principals: [{ not_id: ANY }] };

type Principal = JsonObject;
type Permission = JsonObject;

export function andIds(ids: Principal[]): Principal {
  return ids.length === 0 ? ANY : ids.length === 1 ? (ids[0] as Principal) : { and_ids: { ids } };
}
export function orIds(ids: Principal[]): Principal {
  return ids.length === 1 ? (ids[0] as Principal) : { or_ids: { ids } };
}
export function andRules(rules: Permission[]): Permission {
  return rules.length === 0 ? ANY : rules.length === 1 ? (rules[0] as Permission) : { and_rules: { rules } };
}
export function orRules(rules: Permission[]): Permission {
  return rules.length === 1 ? (rules[0] as Permission) : { or_rules: { rules } };
}
const notId = (p: Principal): Principal => ({ not_id: p });
const notRule = (p: Permission): Permission => ({ not_rule: p });

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Istio's string patterns (`*` present, `x*` prefix, `*x` suffix, else exact) as a StringMatcher. */
function istioStringMatcher(pattern: string, options: { ignoreCase?: boolean } = {}): JsonObject {
  const fold: JsonObject = options.ignoreCase ? { ignore_case: true } : {};
  if (pattern === '*') return { safe_regex: { regex: '.+' } };
  if (pattern.startsWith('*')) return { suffix: pattern.slice(1), ...fold };
  if (pattern.endsWith('*')) return { prefix: pattern.slice(0, -1), ...fold };
  return { exact: pattern, ...fold };
}

const authenticated = (principalName: JsonObject): Principal => ({ authenticated: { principal_name: principalName } });
const regex = (re: string): JsonObject => ({ safe_regex: { regex: re } });

/** Peer principals are written without `spiffe://` (Istio's StringMatcherWithPrefix). */
function principalMatcher(pattern: string): Principal {
  if (pattern === '*') return authenticated(regex('.+'));
  if (pattern.startsWith('*')) return authenticated(regex(`spiffe://.*${escapeRegex(pattern.slice(1))}`));
  if (pattern.endsWith('*')) return authenticated({ prefix: `spiffe://${pattern.slice(0, -1)}` });
  return authenticated({ exact: `spiffe://${pattern}` });
}

/** The `/ns/<ns>/` segment of the peer identity; `*` matches within the segment (as ztunnel's namespace match does). */
function namespaceMatcher(pattern: string): Principal {
  return authenticated(regex(`.*/ns/${pattern.split('*').map(escapeRegex).join('[^/]*')}/.*`));
}

/** `<ns>/<sa>` or `<sa>` (the policy's namespace); Istio's serviceAccountRegex. */
function serviceAccountMatcher(policyNamespace: string): (value: string) => Principal {
  return (value) => {
    const [ns, sa] = value.includes('/') ? (value.split('/') as [string, string]) : [policyNamespace, value];
    return authenticated(regex(`spiffe://.+/ns/${escapeRegex(ns)}/(.+/|)sa/${escapeRegex(sa)}(/.+)?`));
  };
}

/** Trust domain of the peer identity (Istio's srcTrustDomainGenerator). */
function trustDomainMatcher(pattern: string): Principal {
  if (pattern === '*') return authenticated({ prefix: 'spiffe://' });
  if (!pattern.includes('*')) return authenticated({ prefix: `spiffe://${pattern}/` });
  const [before = '', after = ''] = pattern.split('*');
  return authenticated(regex(`spiffe://${escapeRegex(before)}[^/]*${escapeRegex(after)}/.*`));
}

const directRemoteIp = (cidr: string): Principal => ({ direct_remote_ip: cidrFromString(cidr) });
const remoteIp = (cidr: string): Principal => ({ remote_ip: cidrFromString(cidr) });
const destinationPort = (port: string): Permission => ({ destination_port: Number(port) });
const destinationIp = (cidr: string): Permission => ({ destination_ip: cidrFromString(cidr) });
const sni = (pattern: string): Permission => ({ requested_server_name: istioStringMatcher(pattern) });

/** Istio's HeaderMatcher: `*` is presence, else a StringMatcher. */
function headerMatcher(name: string, pattern: string, ignoreCase = false): JsonObject {
  return pattern === '*' ? { name, present_match: true } : { name, string_match: istioStringMatcher(pattern, { ignoreCase }) };
}
const methodPermission = (method: string): Permission => ({ header: headerMatcher(':method', method) });
const hostPermission = (host: string): Permission => ({ header: headerMatcher(':authority', host, true) });

/** Paths: Istio patterns, or a URI template when they use `{*}` / `{**}` (Istio's pathGenerator). */
function pathPermission(path: string): Permission {
  if (path.includes('{*}') || path.includes('{**}')) {
    const template = path.replaceAll('{**}', '**').replaceAll('{*}', '*');
    return { uri_template: { name: 'uri-template', typed_config: any(URI_TEMPLATE_CONFIG, { path_template: template }) } };
  }
  return { url_path: { path: istioStringMatcher(path) } };
}
const URI_TEMPLATE_CONFIG = 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

// ---- JWT attributes (the waypoint's jwt_authn metadata; Istio's extended JWT matchers) ----------

const JWT_FILTER = 'envoy.filters.http.jwt_authn';
const JWT_PAYLOAD = 'payload';

function jwtMetadata(claims: readonly string[], value: JsonObject): Principal {
  return { metadata: { filter: JWT_FILTER, path: [JWT_PAYLOAD, ...claims].map((key) => ({ key })), value } };
}
const stringValue = (pattern: string): JsonObject => ({ string_match: istioStringMatcher(pattern) });
/** "Any of these values, as the claim or within the claim's list" (Istio's MetadataListValueMatcher, extended). */
function claimValues(values: readonly string[]): JsonObject {
  const one = values.length === 1 ? stringValue(values[0] as string) : { or_match: { value_matchers: values.map(stringValue) } };
  return { or_match: { value_matchers: [{ list_match: { one_of: one } }, one] } };
}
const ANY_VALUE: JsonObject = { string_match: { safe_regex: { regex: '.+' } } };

/** `<iss>/<sub>` patterns (Istio's requestPrincipalGenerator). */
function requestPrincipal(value: string): Principal {
  const cut = value.lastIndexOf('/');
  const [iss, sub] = cut >= 0 ? [value.slice(0, cut), value.slice(cut + 1)] : [value, ''];
  let matchIss: JsonObject;
  let matchSub: JsonObject;
  if (value === '*') [matchIss, matchSub] = [ANY_VALUE, ANY_VALUE];
  else if (value.startsWith('*')) {
    [matchIss, matchSub] = cut >= 0 ? [iss === '*' ? ANY_VALUE : { string_match: { suffix: iss.slice(1) } }, { string_match: { exact: sub } }] : [ANY_VALUE, { string_match: { suffix: value.slice(1) } }];
  } else if (value.endsWith('*')) {
    [matchIss, matchSub] = cut >= 0 ? [{ string_match: { exact: iss } }, sub === '*' ? ANY_VALUE : { string_match: { prefix: sub.slice(0, -1) } }] : [{ string_match: { prefix: value.slice(0, -1) } }, ANY_VALUE];
  } else [matchIss, matchSub] = [{ string_match: { exact: iss } }, { string_match: { exact: sub } }];
  return { and_ids: { ids: [jwtMetadata(['iss'], matchIss), jwtMetadata(['sub'], matchSub)] } };
}

// ---- rules -----------------------------------------------------------------------------------

/** One attribute of a rule, as principals or permissions, or why it cannot be evaluated here. */
type Side = 'principal' | 'permission';

/** `values` OR'ed, `notValues` negated; `group` builds one matcher for a whole list (JWT claims). */
function valueMatchers(
  side: Side,
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  one: (v: string) => JsonObject,
  group?: (vs: readonly string[]) => JsonObject,
): JsonObject[] {
  const or = side === 'principal' ? orIds : orRules;
  const not = side === 'principal' ? notId : notRule;
  const build = (vs: readonly string[]) => (group ? group(vs) : or(vs.map(one)));
  return [...(values?.length ? [build(values)] : []), ...(notValues?.length ? [not(build(notValues))] : [])];
}

/** `ports` → `notPorts`. */
function negated<F extends string>(field: F): `not${Capitalize<F>}` {
  return `not${field[0]?.toUpperCase()}${field.slice(1)}` as `not${Capitalize<F>}`;
}

function sourceMatcher(field: SourceField, policyNamespace: string): (value: string) => Principal {
  switch (field) {
    case 'principals':
      return principalMatcher;
    case 'namespaces':
      return namespaceMatcher;
    case 'serviceAccounts':
      return serviceAccountMatcher(policyNamespace);
    case 'trustDomains':
      return trustDomainMatcher;
    case 'ipBlocks':
      return directRemoteIp;
    case 'remoteIpBlocks':
      return remoteIp;
    case 'requestPrincipals':
      return requestPrincipal;
  }
}

const OPERATION_MATCHERS: Readonly<Record<OperationField, (value: string) => Permission>> = {
  ports: destinationPort,
  methods: methodPermission,
  paths: pathPermission,
  hosts: hostPermission,
};

/** A `when` condition's matchers (Istio's generator table in pilot/pkg/security/authz/model). */
function conditionMatchers(c: AuthorizationCondition, policyNamespace: string): { side: Side; matchers: JsonObject[] } {
  const k = conditionKey(c.key);
  if ('error' in k) throw new Error(`unvalidated condition key ${c.key}: ${k.error}`);
  const p = (one: (v: string) => JsonObject, group?: (vs: readonly string[]) => JsonObject) => ({ side: 'principal' as const, matchers: valueMatchers('principal', c.values, c.notValues, one, group) });
  const q = (one: (v: string) => JsonObject) => ({ side: 'permission' as const, matchers: valueMatchers('permission', c.values, c.notValues, one) });
  switch (k.attribute) {
    case 'source.ip':
      return p(directRemoteIp);
    case 'remote.ip':
      return p(remoteIp);
    case 'source.namespace':
      return p(namespaceMatcher);
    case 'source.principal':
      return p(principalMatcher);
    case 'source.serviceAccount':
      return p(serviceAccountMatcher(policyNamespace));
    case 'source.trustDomain':
      return p(trustDomainMatcher);
    case 'destination.ip':
      return q(destinationIp);
    case 'destination.port':
      return q(destinationPort);
    case 'connection.sni':
      return q(sni);
    case 'request.headers':
      return p((v) => ({ header: headerMatcher(k.names[0] as string, v) }));
    case 'request.auth.claims':
      return p(() => ANY, (vs) => jwtMetadata(k.names, claimValues(vs)));
    case 'request.auth.audiences':
      return p(() => ANY, (vs) => jwtMetadata(['aud'], claimValues(vs)));
    case 'request.auth.presenter':
      return p(() => ANY, (vs) => jwtMetadata(['azp'], claimValues(vs)));
    case 'request.auth.principal':
      return p(requestPrincipal);
    default:
      throw new Error(`no matcher for condition ${c.key}`);
  }
}

/**
 * One rule as an Envoy RBAC policy at `point`, or undefined when an ALLOW rule uses an attribute
 * `point` cannot evaluate (the rule is left out: it matches nothing there).
 */
function rulePolicy(rule: AuthorizationPolicy['rules'][number], action: AuthorizationAction, point: EnforcementPoint, policyNamespace: string): JsonObject | undefined {
  let omitted = false;
  /** Whether the attribute is evaluated here; an unevaluable one omits an ALLOW rule and is dropped otherwise. */
  const here = (reach: Parameters<typeof reaches>[0]) => {
    if (reaches(reach, point)) return true;
    if (action === 'ALLOW') omitted = true;
    return false;
  };
  const sources = rule.from.map(({ source }) =>
    andIds(
      (Object.keys(SOURCE_FIELDS) as SourceField[]).flatMap((field) => {
        const [values, notValues] = [source[field], source[negated(field)] as readonly string[] | undefined];
        if (!values?.length && !notValues?.length) return [];
        return here(SOURCE_FIELDS[field]) ? valueMatchers('principal', values, notValues, sourceMatcher(field, policyNamespace)) : [];
      }),
    ),
  );
  const operations = rule.to.map(({ operation }) =>
    andRules(
      (Object.keys(OPERATION_FIELDS) as OperationField[]).flatMap((field) => {
        const [values, notValues] = [operation[field], operation[negated(field)] as readonly string[] | undefined];
        if (!values?.length && !notValues?.length) return [];
        return here(OPERATION_FIELDS[field]) ? valueMatchers('permission', values, notValues, OPERATION_MATCHERS[field]) : [];
      }),
    ),
  );
  const whenPrincipals: Principal[] = [];
  const whenPermissions: Permission[] = [];
  for (const c of rule.when) {
    const k = conditionKey(c.key);
    if ('error' in k || !here(k.reach)) continue;
    const { side, matchers } = conditionMatchers(c, policyNamespace);
    (side === 'principal' ? whenPrincipals : whenPermissions).push(...matchers);
  }
  if (omitted) return undefined;
  return {
    permissions: [andRules([...(operations.length > 0 ? [orRules(operations)] : []), ...whenPermissions])],
    principals: [andIds([...(sources.length > 0 ? [orIds(sources)] : []), ...whenPrincipals])],
  };
}

/** Envoy's RBAC actions for Istio's: AUDIT is Envoy's LOG. */
type EnvoyAction = 'ALLOW' | 'DENY' | 'LOG';
const ENVOY_ACTION: Readonly<Record<AuthorizationAction, EnvoyAction>> = { ALLOW: 'ALLOW', DENY: 'DENY', AUDIT: 'LOG' };

/** The RBAC config (`rules`, `shadow_rules`) of one action's policies at `point`. */
function rbacConfig(action: AuthorizationAction, policies: readonly AuthorizationPolicy[], point: EnforcementPoint): JsonObject {
  const enforce: Record<string, JsonObject> = {};
  const dryRun: Record<string, JsonObject> = {};
  for (const policy of policies) {
    const into = policy.dryRun ? dryRun : enforce;
    policy.rules.forEach((rule, i) => {
      const generated = rulePolicy(rule, action, point, policy.namespace);
      if (generated) into[rbacPolicyKey(policy.namespace, policy.name, i)] = generated;
    });
    if (policy.rules.length === 0) into[rbacPolicyKey(policy.namespace, policy.name, 0)] = MATCH_NEVER;
  }
  const envoyAction = ENVOY_ACTION[action];
  // An empty policy map is left out: proto3 does not tell it from absent (an ALLOW without policies allows nothing).
  const rbac = (set: Record<string, JsonObject>): JsonObject => ({ action: envoyAction, ...(Object.keys(set).length > 0 ? { policies: set } : {}) });
  const hasEnforced = policies.some((p) => !p.dryRun);
  const hasDryRun = policies.some((p) => p.dryRun);
  return {
    ...(hasEnforced ? { rules: rbac(enforce) } : {}),
    ...(hasDryRun && action !== 'AUDIT' ? { shadow_rules: rbac(dryRun), shadow_rules_stat_prefix: DRY_RUN_STAT_PREFIX[action] } : {}),
  };
}

/**
 * The RBAC configs for `policies` at `point`, in Istio's filter order (AUDIT, DENY, ALLOW); none
 * for an action without policies. ztunnel receives no AUDIT: istiod's ambient conversion does
 * not send it ("ztunnel does not support the AUDIT action").
 */
export function rbacConfigs(policies: readonly AuthorizationPolicy[], point: EnforcementPoint): JsonObject[] {
  const actions: AuthorizationAction[] = point === 'ztunnel' ? ['DENY', 'ALLOW'] : ['AUDIT', 'DENY', 'ALLOW'];
  return actions.flatMap((action) => {
    const selected = policies.filter((p) => p.action === action);
    return selected.length > 0 ? [rbacConfig(action, selected, point)] : [];
  });
}

/** Network RBAC filters (ztunnel's inbound chains, a waypoint's TCP chains). */
export function networkRbacFilters(policies: readonly AuthorizationPolicy[], point: 'ztunnel' | 'waypointTcp'): JsonObject[] {
  return rbacConfigs(policies, point).map((config) => extension('envoy.filters.network.rbac', TYPE.networkRbac, { ...config, stat_prefix: RBAC_STAT_PREFIX }));
}

/** The RBAC filters for one pod's inbound chain at ztunnel. */
export function rbacFilters(policies: readonly AuthorizationPolicy[]): JsonObject[] {
  return networkRbacFilters(policies, 'ztunnel');
}

/**
 * PeerAuthentication at ztunnel's plaintext inbound: one DENY policy under `policyKey` refusing
 * plaintext on the ports whose effective mode is STRICT (every port, less the exempt ones, when
 * the workload is STRICT; the port-level STRICT ones otherwise). None when no port is STRICT.
 * Istio's ambient conversion builds the same from `portLevelMtls`
 * (convertPeerAuthentication); HBONE is mTLS whatever the mode, so DISABLE acts as PERMISSIVE.
 */
export function plaintextMtlsFilter(policyKey: string, mtls: { mtlsMode: string; portMtls: Readonly<Record<number, string>> }): JsonObject | undefined {
  const ports = Object.entries(mtls.portMtls).map(([port, mode]) => ({ port: Number(port), strict: mode === 'STRICT' }));
  let permission: Permission;
  if (mtls.mtlsMode === 'STRICT') {
    const exempt = ports.filter((p) => !p.strict).map((p) => ({ destination_port: p.port }));
    permission = exempt.length > 0 ? notRule(orRules(exempt)) : ANY;
  } else {
    const strict = ports.filter((p) => p.strict).map((p) => ({ destination_port: p.port }));
    if (strict.length === 0) return undefined;
    permission = orRules(strict);
  }
  return extension('envoy.filters.network.rbac', TYPE.networkRbac, {
    rules: { action: 'DENY', policies: { [policyKey]: { permissions: [permission], principals: [ANY] } } },
    stat_prefix: RBAC_STAT_PREFIX,
  });
}
