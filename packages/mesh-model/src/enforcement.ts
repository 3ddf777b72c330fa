/**
 * Which policies no proxy enforces as written, and why: the findings `meshctl analyze` reports
 * (pure, from a snapshot). Each says where the policy is (file, line, field), how sure it is
 * (`error`: enforced nowhere; `warning`: enforced, but not as written; `info`: works as Istio
 * does, worth knowing) and what happens instead, in the terms of docs/authorization.md:
 *
 * - scope: a policy that reaches no proxy (selects no ambient workload; names a Service without
 *   a waypoint, or no Service; a target kind this mesh has no proxy for); a PeerAuthentication
 *   Istio ignores (a selector in the root namespace; a younger policy of the same level);
 * - attributes: what ztunnel cannot see leaves an ALLOW rule out (it matches nothing) and is
 *   dropped from a DENY rule (it denies more); a waypoint's TCP chains do the same with HTTP
 *   attributes; JWT attributes need a RequestAuthentication this mesh does not have; SNI is empty
 *   inside a waypoint;
 * - actions: AUDIT has no effect at ztunnel; dry-run policies are reported, not enforced;
 *   PeerAuthentication DISABLE acts as PERMISSIVE under ambient.
 */
import { OPERATION_FIELDS, SOURCE_FIELDS, conditionKey, reaches, type EnforcementPoint, type OperationField, type SourceField } from './authz-attributes.js';
import { WAYPOINT_GATEWAY_CLASS, matchesSelector, type MeshSnapshot } from './snapshot.js';
import type { AuthorizationPolicy, AuthorizationRule, PeerAuthentication, Pod, Service, SourceRef } from './types.js';

export type FindingLevel = 'error' | 'warning' | 'info';

export interface PolicyFinding {
  readonly kind: 'AuthorizationPolicy' | 'PeerAuthentication';
  readonly namespace: string;
  readonly name: string;
  readonly source?: SourceRef;
  /** Field path in the document, e.g. `spec.rules[0].to[0].operation.methods`. */
  readonly path: string;
  readonly level: FindingLevel;
  /** Stable, e.g. `AUTHZ_NOT_ENFORCED`. */
  readonly code: string;
  readonly message: string;
}

type Place = { readonly point: 'ztunnel'; readonly pods: readonly Pod[] } | { readonly point: 'waypoint'; readonly services: readonly Service[] };

const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

const capitalized = (field: string) => `${field[0]?.toUpperCase()}${field.slice(1)}`;

/** The attributes of a rule `point` cannot evaluate, with their paths. */
function unevaluable(rule: AuthorizationRule, index: number, point: EnforcementPoint): { path: string; name: string }[] {
  const out: { path: string; name: string }[] = [];
  const base = `spec.rules[${index}]`;
  rule.from.forEach(({ source }, i) => {
    for (const field of Object.keys(SOURCE_FIELDS) as SourceField[]) {
      if (reaches(SOURCE_FIELDS[field], point)) continue;
      for (const name of [field, `not${capitalized(field)}`] as const) {
        if ((source[name as keyof typeof source]?.length ?? 0) > 0) out.push({ path: `${base}.from[${i}].source.${name}`, name });
      }
    }
  });
  rule.to.forEach(({ operation }, i) => {
    for (const field of Object.keys(OPERATION_FIELDS) as OperationField[]) {
      if (reaches(OPERATION_FIELDS[field], point)) continue;
      for (const name of [field, `not${capitalized(field)}`] as const) {
        if ((operation[name as keyof typeof operation]?.length ?? 0) > 0) out.push({ path: `${base}.to[${i}].operation.${name}`, name });
      }
    }
  });
  rule.when.forEach((c, i) => {
    const k = conditionKey(c.key);
    if (!('error' in k) && !reaches(k.reach, point)) out.push({ path: `${base}.when[${i}]`, name: c.key });
  });
  return out;
}

/**
 * The attributes of a policy's rules `point` cannot evaluate, by name (`methods`, `notPaths`,
 * `trustDomains`, a `when` key), once each and sorted: what istiod's `ZtunnelAccepted` message
 * lists as "found" for ztunnel (istiod-lite's kubernetes-status.ts).
 */
export function unevaluableAttributes(policy: Pick<AuthorizationPolicy, 'rules'>, point: EnforcementPoint): string[] {
  return [...new Set(policy.rules.flatMap((rule, i) => unevaluable(rule, i, point).map((m) => m.name)))].sort();
}

/** Does the rule test only what `point` cannot see, in every `from`/`to` entry or condition it has? */
function onlyUnevaluable(rule: AuthorizationRule, point: EnforcementPoint): boolean {
  const fromEvaluable = rule.from.some(({ source }) =>
    (Object.keys(SOURCE_FIELDS) as SourceField[]).some((f) => reaches(SOURCE_FIELDS[f], point) && ((source[f]?.length ?? 0) > 0 || ((source[`not${capitalized(f)}` as keyof typeof source] as readonly string[] | undefined)?.length ?? 0) > 0)),
  );
  const toEvaluable = rule.to.some(({ operation }) =>
    (Object.keys(OPERATION_FIELDS) as OperationField[]).some((f) => reaches(OPERATION_FIELDS[f], point) && ((operation[f]?.length ?? 0) > 0 || ((operation[`not${capitalized(f)}` as keyof typeof operation] as readonly string[] | undefined)?.length ?? 0) > 0)),
  );
  const whenEvaluable = rule.when.some((c) => {
    const k = conditionKey(c.key);
    return !('error' in k) && reaches(k.reach, point);
  });
  return !fromEvaluable && !toEvaluable && !whenEvaluable;
}

function placesOf(snapshot: MeshSnapshot, policy: AuthorizationPolicy, finding: (path: string, level: FindingLevel, code: string, message: string) => void): Place | undefined {
  if (policy.targetRefs.length === 0) {
    const pods = [...snapshot.pods.values()].filter((pod) => snapshot.isCaptured(pod) && snapshot.policiesFor(pod).authorizationPolicies.includes(policy));
    if (pods.length === 0) finding(policy.selector ? 'spec.selector' : 'metadata.namespace', 'error', 'AUTHZ_NO_WORKLOAD', 'selects no workload in the ambient mesh, so no ztunnel enforces it');
    return { point: 'ztunnel', pods };
  }
  const services: Service[] = [];
  policy.targetRefs.forEach((ref, i) => {
    const path = `spec.targetRefs[${i}]`;
    if (ref.kind === 'Service') {
      const service = snapshot.services.get(`${policy.namespace}/${ref.name}`);
      if (!service) return finding(path, 'error', 'AUTHZ_NO_TARGET', `names Service ${policy.namespace}/${ref.name}, which does not exist: nothing enforces this target`);
      if (!snapshot.waypointFor(service)) {
        return finding(path, 'error', 'AUTHZ_NO_WAYPOINT', `Service ${policy.namespace}/${ref.name} uses no waypoint (istio.io/use-waypoint), and only waypoints enforce targetRefs policies: nothing enforces this target`);
      }
      services.push(service);
    } else if (ref.kind === 'Gateway' && ref.group === GATEWAY_API_GROUP) {
      const gateway = snapshot.gateways.get(`${policy.namespace}/${ref.name}`);
      if (!gateway || gateway.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
        return finding(path, 'error', 'AUTHZ_NO_TARGET', `names Gateway ${policy.namespace}/${ref.name}, which is not a waypoint (gatewayClassName ${WAYPOINT_GATEWAY_CLASS}): this mesh has no other gateways to enforce it`);
      }
      const served = [...snapshot.services.values()].filter((s) => snapshot.waypointFor(s) === gateway);
      if (served.length === 0) finding(path, 'warning', 'AUTHZ_NO_TRAFFIC', `waypoint ${policy.namespace}/${ref.name} serves no Service yet`);
      services.push(...served);
    } else if (ref.kind === 'GatewayClass') {
      if (policy.namespace !== snapshot.rootNamespace) return finding(path, 'error', 'AUTHZ_NO_TARGET', `a GatewayClass target applies only to policies in the root namespace ${snapshot.rootNamespace}`);
      if (ref.name !== WAYPOINT_GATEWAY_CLASS) return finding(path, 'error', 'AUTHZ_NO_TARGET', `GatewayClass ${ref.name} has no proxy in this mesh (only ${WAYPOINT_GATEWAY_CLASS})`);
      services.push(...[...snapshot.services.values()].filter((s) => snapshot.waypointFor(s) !== undefined));
    } else {
      finding(path, 'error', 'AUTHZ_NO_TARGET', `this mesh has no ${ref.kind} kind, so nothing enforces this target`);
    }
  });
  return { point: 'waypoint', services };
}

function authorizationFindings(snapshot: MeshSnapshot, policy: AuthorizationPolicy): PolicyFinding[] {
  const out: PolicyFinding[] = [];
  const finding = (path: string, level: FindingLevel, code: string, message: string) =>
    out.push({ kind: 'AuthorizationPolicy', namespace: policy.namespace, name: policy.name, ...(policy.source ? { source: policy.source } : {}), path, level, code, message });
  if (policy.dryRun) finding('metadata.annotations', 'info', 'AUTHZ_DRY_RUN', 'istio.io/dry-run: evaluated and reported (logs, envoy_*_rbac metrics), never enforced');
  const place = placesOf(snapshot, policy, finding);
  if (!place) return out;

  if (place.point === 'ztunnel') {
    if (policy.action === 'AUDIT') {
      finding('spec.action', 'warning', 'AUTHZ_AUDIT_AT_ZTUNNEL', 'ztunnel does not support the AUDIT action (istiod does not send it): this policy has no effect; target a waypoint to audit');
      return out;
    }
    let kept = 0;
    policy.rules.forEach((rule, i) => {
      const missing = unevaluable(rule, i, 'ztunnel');
      if (missing.length === 0) {
        kept++;
        return;
      }
      const names = [...new Set(missing.map((m) => m.name))].join(', ');
      if (policy.action === 'ALLOW') {
        finding(missing[0]?.path ?? `spec.rules[${i}]`, 'warning', 'AUTHZ_L7_AT_ZTUNNEL', `ztunnel cannot see ${names}: rule ${i} is left out and matches nothing (more restrictive than written); use a waypoint and targetRefs for HTTP attributes`);
      } else {
        const all = onlyUnevaluable(rule, 'ztunnel');
        finding(
          missing[0]?.path ?? `spec.rules[${i}]`,
          'warning',
          'AUTHZ_L7_AT_ZTUNNEL',
          `ztunnel cannot see ${names}: rule ${i} is enforced without ${missing.length > 1 ? 'them' : 'it'}${all ? ', so it denies every connection to the workloads it selects' : ', so it denies more than written'}; use a waypoint and targetRefs for HTTP attributes`,
        );
      }
    });
    if (policy.action === 'ALLOW' && policy.rules.length > 0 && kept === 0) finding('spec.rules', 'warning', 'AUTHZ_ALLOWS_NOTHING', 'every rule is left out at ztunnel: this ALLOW policy allows nothing there');
    return out;
  }

  // A waypoint: HTTP chains see everything; JWT attributes need RequestAuthentication, SNI needs TLS.
  policy.rules.forEach((rule, i) => {
    rule.from.forEach(({ source }, j) => {
      if ((source.requestPrincipals?.length ?? 0) > 0 || (source.notRequestPrincipals?.length ?? 0) > 0) {
        finding(`spec.rules[${i}].from[${j}].source`, 'warning', 'AUTHZ_NO_JWT', 'requestPrincipals need a validated JWT, and this mesh has no RequestAuthentication: requestPrincipals never match, notRequestPrincipals always do');
      }
    });
    rule.when.forEach((c, j) => {
      if (c.key.startsWith('request.auth.')) {
        finding(`spec.rules[${i}].when[${j}]`, 'warning', 'AUTHZ_NO_JWT', `${c.key} needs a validated JWT, and this mesh has no RequestAuthentication: values never match, notValues always do`);
      }
      if (c.key === 'connection.sni') finding(`spec.rules[${i}].when[${j}]`, 'info', 'AUTHZ_NO_SNI', 'a waypoint sees no TLS server name (its ports are not TLS-inspected): connection.sni is empty');
    });
    // Non-HTTP traffic through the waypoint meets the same rules on its TCP chain.
    const missing = unevaluable(rule, i, 'waypointTcp');
    if (missing.length > 0 && policy.action !== 'AUDIT') {
      const names = [...new Set(missing.map((m) => m.name))].join(', ');
      const effect =
        policy.action === 'ALLOW'
          ? `rule ${i} matches no TCP connection`
          : onlyUnevaluable(rule, 'waypointTcp')
            ? `rule ${i} denies every TCP connection (Istio: "will deny all traffic to TCP ports"); add ports to scope it`
            : `rule ${i} is enforced on TCP connections without ${names}`;
      finding(missing[0]?.path ?? `spec.rules[${i}]`, 'info', 'AUTHZ_L7_ON_TCP', `non-HTTP traffic through the waypoint cannot show ${names}: ${effect}`);
    }
  });
  return out;
}

function peerAuthenticationFindings(snapshot: MeshSnapshot, pa: PeerAuthentication): PolicyFinding[] {
  const out: PolicyFinding[] = [];
  const finding = (path: string, level: FindingLevel, code: string, message: string) =>
    out.push({ kind: 'PeerAuthentication', namespace: pa.namespace, name: pa.name, ...(pa.source ? { source: pa.source } : {}), path, level, code, message });
  const selects = pa.selector !== undefined && Object.keys(pa.selector.matchLabels).length > 0;
  if (selects && pa.namespace === snapshot.rootNamespace) {
    finding('spec.selector', 'error', 'PEERAUTHN_IGNORED', `a PeerAuthentication with a selector in the root namespace ${snapshot.rootNamespace} is ignored (Istio); put it in the workloads' namespace`);
    return out;
  }
  const level = pa.namespace === snapshot.rootNamespace ? 'mesh' : selects ? 'workload' : 'namespace';
  const inScope = [...snapshot.pods.values()].filter(
    (p) => snapshot.isCaptured(p) && (level === 'mesh' || (p.namespace === pa.namespace && (!selects || matchesSelector(pa.selector?.matchLabels ?? {}, p.labels)))),
  );
  if (inScope.length === 0) finding(selects ? 'spec.selector' : 'metadata.namespace', 'warning', 'PEERAUTHN_NO_WORKLOAD', 'applies to no workload in the ambient mesh');
  else if (!inScope.some((p) => snapshot.policiesFor(p).peerAuthentications[level] === pa)) {
    finding('metadata.name', 'warning', 'PEERAUTHN_CONFLICT', `an older PeerAuthentication of the same level decides for every workload it would apply to (Istio: the oldest wins): this one is not in force`);
  }
  if (pa.mtlsMode === 'DISABLE' || Object.values(pa.portLevelMtls).includes('DISABLE')) {
    finding(pa.mtlsMode === 'DISABLE' ? 'spec.mtls.mode' : 'spec.portLevelMtls', 'info', 'PEERAUTHN_DISABLE_AMBIENT', 'DISABLE under ambient accepts plaintext like PERMISSIVE; ztunnel still carries mesh traffic in mTLS (HBONE)');
  }
  return out;
}

/** Every finding about the snapshot's AuthorizationPolicies and PeerAuthentications, in key order. */
export function analyzePolicies(snapshot: MeshSnapshot): PolicyFinding[] {
  return [
    ...[...snapshot.authorizationPolicies.values()].flatMap((p) => authorizationFindings(snapshot, p)),
    ...[...snapshot.peerAuthentications.values()].flatMap((p) => peerAuthenticationFindings(snapshot, p)),
  ];
}
