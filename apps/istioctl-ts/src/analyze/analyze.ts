/**
 * `meshctl analyze`, pure over parsed manifests: what would not work as written, in istioctl
 * analyze's terms (messages.ts). Three sources, in this order for each resource:
 *
 * - the manifests themselves: a document that does not parse or validate (IST0106);
 * - references between resources (mesh-model `checkSnapshot`): a pod on an undeclared node or
 *   namespace, a service account that is not declared (IST0101); an HTTPRoute whose parent or
 *   backend Service does not exist (IST0101) or that is not Accepted or has unresolved refs
 *   for another reason (IST0171, the condition as its status says); a
 *   use-waypoint label naming no waypoint (IST0101); IP conflicts; plus Services whose selector
 *   matches no pod (no endpoints);
 * - policies (mesh-model `analyzePolicies`, docs/authorization.md): a selector that matches no
 *   pod (IST0127), a policy no proxy enforces (IST0167), a target that does not exist (IST0101),
 *   a selector that picks a waypoint's pod where `targetRefs` is meant (IST0166), and what a
 *   proxy enforces differently from how it is written.
 */
import {
  analyzePolicies,
  buildSnapshot,
  checkSnapshot,
  LABEL_GATEWAY_NAME,
  matchesSelector,
  type Labels,
  type ManifestError,
  type MeshSnapshot,
  type ParseResult,
  type PolicyFinding,
} from '@mesh/mesh-model';
import { IST, LEVEL_RANK, type AnalysisLevel, type AnalysisMessage } from './messages.js';

type Verdict = { code: string; level: AnalysisLevel; message: string };

function origin(kind: string | undefined, namespace: string | undefined, name: string | undefined): string {
  return `${kind ?? 'document'} ${namespace ? `${namespace}/` : ''}${name ?? '(unnamed)'}`;
}

function labelsText(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The value at a field path such as `spec.rules[0].backendRefs[1]` of a parsed resource (spec fields sit at its top level). */
function fieldAt(resource: unknown, path: string): unknown {
  const steps = path.replace(/^spec\./, '').match(/[^.[\]]+/g) ?? [];
  let value: unknown = resource;
  for (const step of steps) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

function isCoreService(ref: { group?: string; kind?: string }): boolean {
  return (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service';
}

/** What a snapshot check means in Istio's terms. */
function snapshotVerdict(snapshot: MeshSnapshot, w: ManifestError): Verdict {
  const own = (level: AnalysisLevel = 'Warning'): Verdict => ({ code: w.code ?? 'MESH_CHECK', level, message: w.message });
  const pod = w.kind === 'Pod' ? snapshot.pods.get(`${w.namespace}/${w.name}`) : undefined;
  switch (w.code) {
    case 'NODE_NOT_FOUND':
      return { ...IST.referencedResourceNotFound('node', pod?.nodeName ?? '?'), message: `${IST.referencedResourceNotFound('node', pod?.nodeName ?? '?').message}: no ztunnel serves this pod` };
    case 'NAMESPACE_NOT_FOUND':
      return IST.referencedResourceNotFound('namespace', w.namespace ?? '?');
    case 'SERVICE_ACCOUNT_NOT_FOUND':
      return IST.referencedResourceNotFound('service account', `${w.namespace}/${pod?.serviceAccountName ?? '?'}`);
    case 'WAYPOINT_NOT_FOUND': {
      const gateway = /Gateway (\S+) is not declared/.exec(w.message)?.[1] ?? '?';
      return { ...IST.referencedResourceNotFound('waypoint Gateway', gateway), message: `${IST.referencedResourceNotFound('waypoint Gateway', gateway).message}: traffic to it bypasses any waypoint` };
    }
    case 'ROUTE_PARENT_NOT_ACCEPTED':
    case 'ROUTE_REF_NOT_RESOLVED': {
      const route = snapshot.httpRoutes.get(`${w.namespace}/${w.name}`);
      const ref = fieldAt(route, w.path) as { group?: string; kind?: string; name?: string; namespace?: string; port?: number } | undefined;
      if (ref?.name && isCoreService(ref)) {
        const key = `${ref.namespace ?? w.namespace}/${ref.name}`;
        const service = snapshot.services.get(key);
        if (!service) return IST.referencedResourceNotFound(w.code === 'ROUTE_PARENT_NOT_ACCEPTED' ? 'parent Service' : 'backend Service', key);
        if (ref.port !== undefined && !service.ports.some((p) => p.port === ref.port)) {
          return IST.referencedResourceNotFound(w.code === 'ROUTE_PARENT_NOT_ACCEPTED' ? 'parent Service port' : 'backend Service port', `${key}:${ref.port}`);
        }
      }
      // checkSnapshot says `not accepted (<reason>): …` / `ResolvedRefs=False (<reason>): …; requests for it get 500`.
      const [, reason = '?', detail = w.message] = /\((\w+)\): (.*)$/.exec(w.message) ?? [];
      return IST.negativeCondition(w.code === 'ROUTE_PARENT_NOT_ACCEPTED' ? 'Accepted' : 'ResolvedRefs', reason, detail);
    }
    default:
      return own();
  }
}

/** What a policy finding means in Istio's terms. */
function policyVerdict(snapshot: MeshSnapshot, f: PolicyFinding): Verdict {
  const own: Verdict = { code: f.code, level: f.level === 'error' ? 'Error' : f.level === 'warning' ? 'Warning' : 'Info', message: f.message };
  const key = `${f.namespace}/${f.name}`;
  const policy = f.kind === 'AuthorizationPolicy' ? snapshot.authorizationPolicies.get(key) : snapshot.peerAuthentications.get(key);
  switch (f.code) {
    case 'AUTHZ_NO_WORKLOAD':
    case 'PEERAUTHN_NO_WORKLOAD': {
      const labels = policy?.selector?.matchLabels ?? {};
      const anyPod = [...snapshot.pods.values()].some((p) => p.namespace === f.namespace && matchesSelector(labels, p.labels));
      if (Object.keys(labels).length > 0 && !anyPod) return IST.noMatchingWorkloads(labelsText(labels));
      return IST.ineffectivePolicy(f.message);
    }
    case 'AUTHZ_NO_TARGET': {
      const ref = policy && 'targetRefs' in policy ? (fieldAt(policy, f.path) as { group?: string; kind?: string; name?: string } | undefined) : undefined;
      if (ref?.kind === 'Service' && !snapshot.services.has(`${f.namespace}/${ref.name}`)) return IST.referencedResourceNotFound('Service', `${f.namespace}/${ref.name}`);
      if (ref?.kind === 'Gateway' && !snapshot.gateways.has(`${f.namespace}/${ref.name}`)) return IST.referencedResourceNotFound('Gateway', `${f.namespace}/${ref.name}`);
      return IST.ineffectivePolicy(f.message);
    }
    case 'AUTHZ_NO_WAYPOINT':
    case 'PEERAUTHN_IGNORED':
      return IST.ineffectivePolicy(f.message);
    default:
      return own;
  }
}

/** Services that select pods, yet none: connections to them have nowhere to go. */
function serviceFindings(snapshot: MeshSnapshot): AnalysisMessage[] {
  return [...snapshot.services.values()]
    .filter((s) => s.selector !== undefined && Object.keys(s.selector).length > 0 && snapshot.endpointsOf(s).length === 0)
    .map((s) => ({
      code: 'SERVICE_NO_ENDPOINTS',
      level: 'Warning' as const,
      origin: origin('Service', s.namespace, s.name),
      reference: s.source ? `${s.source.file}:${s.source.line}` : undefined,
      path: 'spec.selector',
      message: `no pod matches the selector ${labelsText(s.selector ?? {})}: the Service has no endpoints, so connections to it fail`,
    }));
}

/** AuthorizationPolicies whose workload selector picks a waypoint's pod: a waypoint is addressed with targetRefs. */
function ineffectiveSelectorFindings(snapshot: MeshSnapshot): AnalysisMessage[] {
  const out: AnalysisMessage[] = [];
  for (const policy of snapshot.authorizationPolicies.values()) {
    const labels = policy.selector?.matchLabels;
    if (policy.targetRefs.length > 0 || !labels || Object.keys(labels).length === 0) continue;
    for (const pod of snapshot.pods.values()) {
      const gateway = pod.labels[LABEL_GATEWAY_NAME];
      if (pod.namespace !== policy.namespace || gateway === undefined || !matchesSelector(labels, pod.labels)) continue;
      out.push({ ...IST.ineffectiveSelector(gateway), origin: origin('AuthorizationPolicy', policy.namespace, policy.name), reference: policy.source ? `${policy.source.file}:${policy.source.line}` : undefined, path: 'spec.selector' });
      break;
    }
  }
  return out;
}

export interface AnalysisResult {
  messages: AnalysisMessage[];
  /** Documents that are not YAML at all (istioctl: files it could not parse; they are left out). */
  unparsable: ManifestError[];
  /** How many resources were analyzed. */
  resources: number;
}

export function analyzeManifests(parsed: ParseResult): AnalysisResult {
  const snapshot = buildSnapshot(parsed.resources);
  const messages: AnalysisMessage[] = [
    ...parsed.errors.filter((e) => e.kind !== undefined).map((e) => ({
      ...IST.schemaValidationError(e.message),
      origin: origin(e.kind, e.namespace, e.name),
      reference: `${e.file}:${e.line}`,
      path: e.path,
    })),
    ...checkSnapshot(snapshot).map((w) => ({ ...snapshotVerdict(snapshot, w), origin: origin(w.kind, w.namespace, w.name), reference: `${w.file}:${w.line}`, path: w.path })),
    ...serviceFindings(snapshot),
    ...analyzePolicies(snapshot).map((f) => ({ ...policyVerdict(snapshot, f), origin: origin(f.kind, f.namespace, f.name), reference: f.source ? `${f.source.file}:${f.source.line}` : undefined, path: f.path })),
    ...ineffectiveSelectorFindings(snapshot),
  ];
  // istioctl prints the worst first; within a level, by resource and place.
  messages.sort((a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level] || a.origin.localeCompare(b.origin) || (a.reference ?? '').localeCompare(b.reference ?? '', undefined, { numeric: true }));
  return { messages, unparsable: parsed.errors.filter((e) => e.kind === undefined), resources: parsed.resources.length };
}
