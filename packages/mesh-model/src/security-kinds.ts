/**
 * The security.istio.io kinds, AuthorizationPolicy and PeerAuthentication, decoded strictly: an
 * unknown key anywhere is an error naming the key and what was expected, and every rule of
 * Istio's validation (pkg/config/validation `ValidateAuthorizationPolicy`,
 * `ValidatePeerAuthentication`, pkg/config/security) applies, so a document this parser accepts
 * means what it would mean to Istio, and one it refuses names the field.
 */
import { conditionKey, type ConditionValueKind } from './authz-attributes.js';
import { EMPTY, namespacedMetadata as metadata, type Body } from './metadata.js';
import {
  checked,
  cidr,
  isCidr,
  dnsName,
  fixed,
  list,
  object,
  oneOf,
  optional,
  portMap,
  required,
  scalar,
  string,
  stringMap,
  text,
  transform,
  withDefault,
  type Decoder,
  type Problem,
} from './schema.js';
import type {
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicy,
  AuthorizationRule,
  AuthorizationSource,
  LabelSelector,
  MtlsMode,
  PeerAuthentication,
  PolicyTargetRef,
} from './types.js';


/** Annotation that makes an AuthorizationPolicy report instead of enforce. */
export const ANNOTATION_DRY_RUN = 'istio.io/dry-run';

/**
 * Keys accepted and not read: the rest of Kubernetes ObjectMeta (a manifest exported from a
 * cluster carries them) and `status`, which controllers write.
 */
const IGNORED_OBJECT_KEYS = [
  'apiVersion',
  'kind',
  'status',
  ...[
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'generateName',
    'selfLink',
    'managedFields',
    'ownerReferences',
    'finalizers',
  ].map((k) => `metadata.${k}`),
];

/** Istio's WorkloadSelector: labels only, no empty keys, no wildcards. */
const workloadSelector: Decoder<LabelSelector> = checked(object<LabelSelector>({ matchLabels: withDefault(stringMap, EMPTY) }, { strict: true }), (s) =>
  Object.entries(s.matchLabels).flatMap(([k, v]): Problem[] => {
    if (k === '') return [{ at: ['matchLabels'], message: 'empty key is not supported in selector' }];
    if (k.includes('*') || v.includes('*')) return [{ at: ['matchLabels', k], message: `wildcard is not supported in selector: "${k}=${v}"` }];
    return [];
  }),
);

// ---- AuthorizationPolicy ---------------------------------------------------------------------

const TARGET_KINDS: Readonly<Record<string, readonly string[]>> = {
  Service: ['', 'core'],
  ServiceEntry: ['networking.istio.io'],
  Gateway: ['gateway.networking.k8s.io'],
  GatewayClass: ['gateway.networking.k8s.io'],
};

const targetRef: Decoder<PolicyTargetRef> = checked(
  object<PolicyTargetRef & { namespace?: string }>(
    { group: withDefault(text, ''), kind: required(string()), name: required(dnsName), namespace: optional(text) },
    { strict: true },
  ),
  (ref) => {
    const problems: Problem[] = [];
    if (ref.namespace !== undefined && ref.namespace !== '') {
      problems.push({ at: ['namespace'], message: 'targetRef namespace must not be set; cross namespace referencing is not supported' });
    }
    const groups = TARGET_KINDS[ref.kind];
    if (!groups || !groups.includes(ref.group)) {
      const allowed = Object.entries(TARGET_KINDS).map(([kind, g]) => `${g[0] || 'core'}/${kind}`);
      problems.push({ at: ['kind'], message: `expected a targetRef to one of ${allowed.join(', ')}, got ${ref.group || 'core'}/${ref.kind}` });
    }
    return problems;
  },
);
const targetRefOut = transform(targetRef, ({ group, kind, name }): PolicyTargetRef => ({ group, kind, name }));

/** Values of principals, namespaces, hosts, methods, headers: non-empty strings (Istio refuses ""). */
const values = list(string('a non-empty string'));

/** Istio's wildcard rule for trust domains: one `*`, at the start or the end; no `/`. */
const trustDomains = checked(values, (tds) =>
  tds.flatMap((td, i): Problem[] => {
    const stars = td.split('*').length - 1;
    if (stars > 1) return [{ at: [i], message: `at most one wildcard is allowed, got "${td}"` }];
    if (stars === 1 && td !== '*' && !td.startsWith('*') && !td.endsWith('*')) return [{ at: [i], message: `wildcard is only allowed at the start or end, got "${td}"` }];
    if (td.includes('/')) return [{ at: [i], message: `trust domain must not contain '/', got "${td}"` }];
    return [];
  }),
);

/** `serviceAccount` or `namespace/serviceAccount`, no wildcards, at most 16 (Istio). */
const serviceAccounts = checked(values, (sas) => [
  ...(sas.length > 16 ? [{ at: [], message: `expected at most 16 service accounts, got ${sas.length}` }] : []),
  ...sas.flatMap((sa, i): Problem[] => {
    if (sa.includes('*')) return [{ at: [i], message: `wildcard not allowed, got "${sa}"` }];
    const parts = sa.split('/');
    if (parts.length > 2 || parts.some((p) => p === '') || sa.length > 320) {
      return [{ at: [i], message: `expected format 'serviceAccount' or 'namespace/serviceAccount', got "${sa}"` }];
    }
    return [];
  }),
]);

/** Istio allows 0-65535 (port 0 matches nothing); a number or a numeric string, kept as a string. */
const portValue: Decoder<string> = scalar('a port 0-65535', (v) => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? String(n) : undefined;
});
const ports = list(portValue);

/**
 * Path templates (`{*}` one segment, `{**}` any number, the last operator): every segment is
 * an operator or a literal without `*`, `{`, `}` (Istio's API reference for Operation.paths and
 * Envoy's uri_template syntax, which the template becomes).
 */
export function pathTemplateProblem(path: string): string | undefined {
  if (!path.includes('{*}') && !path.includes('{**}')) return undefined;
  if (!path.startsWith('/')) return `a path template must start with "/", got "${path}"`;
  const segments = path.slice(1).split('/');
  let sawAnyGlob = false;
  for (const [i, segment] of segments.entries()) {
    if (segment === '' && i === segments.length - 1 && i > 0) break; // one trailing "/"
    if (segment === '{*}' || segment === '{**}') {
      if (sawAnyGlob) return `invalid path template "${path}": {**} must be the last operator`;
      sawAnyGlob = segment === '{**}';
      continue;
    }
    if (segment === '' || /[*{}]/.test(segment) || !/^[A-Za-z0-9\-._~%!$&'()+,;:@]+$/.test(segment)) {
      return `invalid path template "${path}": segment "${segment}" must be {*}, {**} or plain path characters`;
    }
  }
  return undefined;
}
const paths = checked(values, (ps) => ps.flatMap((p, i): Problem[] => {
  const problem = pathTemplateProblem(p);
  return problem ? [{ at: [i], message: problem }] : [];
}));

const source: Decoder<AuthorizationSource> = checked(
  object<AuthorizationSource>(
    {
      principals: optional(values),
      notPrincipals: optional(values),
      requestPrincipals: optional(values),
      notRequestPrincipals: optional(values),
      namespaces: optional(values),
      notNamespaces: optional(values),
      serviceAccounts: optional(serviceAccounts),
      notServiceAccounts: optional(serviceAccounts),
      trustDomains: optional(trustDomains),
      notTrustDomains: optional(trustDomains),
      ipBlocks: optional(list(cidr)),
      notIpBlocks: optional(list(cidr)),
      remoteIpBlocks: optional(list(cidr)),
      notRemoteIpBlocks: optional(list(cidr)),
    },
    { strict: true },
  ),
  (s) => {
    const problems: Problem[] = [];
    const set = (k: keyof AuthorizationSource) => s[k] !== undefined;
    if ((set('serviceAccounts') || set('notServiceAccounts')) && (set('principals') || set('notPrincipals') || set('namespaces') || set('notNamespaces'))) {
      problems.push({ at: [set('serviceAccounts') ? 'serviceAccounts' : 'notServiceAccounts'], message: 'cannot set serviceAccounts with namespaces or principals' });
    }
    if (Object.values(s).every((v) => v === undefined || (v as readonly string[]).length === 0)) {
      problems.push({ at: [], message: '`source` must not be empty' });
    }
    return problems;
  },
);

const operation: Decoder<AuthorizationOperation> = checked(
  object<AuthorizationOperation>(
    {
      ports: optional(ports),
      notPorts: optional(ports),
      methods: optional(values),
      notMethods: optional(values),
      paths: optional(paths),
      notPaths: optional(paths),
      hosts: optional(values),
      notHosts: optional(values),
    },
    { strict: true },
  ),
  (o) => (Object.values(o).every((v) => v === undefined || (v as readonly string[]).length === 0) ? [{ at: [], message: '`operation` must not be empty' }] : []),
);

function conditionValueProblem(kind: ConditionValueKind, value: string): string | undefined {
  if (kind === 'port') return /^\d+$/.test(value) && Number(value) <= 65535 ? undefined : `bad port (${value})`;
  if (kind === 'ip') return isCidr(value) ? undefined : `bad IP address or CIDR range (${value})`;
  return undefined;
}

const condition: Decoder<AuthorizationCondition> = checked(
  object<AuthorizationCondition>({ key: required(string()), values: optional(values), notValues: optional(values) }, { strict: true }),
  (c) => {
    const classified = conditionKey(c.key);
    if ('error' in classified) return [{ at: ['key'], message: classified.error }];
    if ((c.values?.length ?? 0) === 0 && (c.notValues?.length ?? 0) === 0) {
      return [{ at: ['key'], message: `at least one of \`values\` or \`notValues\` must be set for key ${c.key}` }];
    }
    const problems: Problem[] = [];
    for (const field of ['values', 'notValues'] as const) {
      c[field]?.forEach((v, i) => {
        const problem = conditionValueProblem(classified.values, v);
        if (problem) problems.push({ at: [field, i], message: `invalid value for key ${c.key}: ${problem}` });
      });
    }
    return problems;
  },
);

/** `from: []` / `to: []` are refused by Istio ("must not be empty"); absent means "any". */
const nonEmptyList = <T>(item: Decoder<T>, what: string): Decoder<T[]> =>
  checked(list(item), (xs) => (xs.length === 0 ? [{ at: [], message: `\`${what}\` must not be empty (leave it out to match any ${what === 'from' ? 'source' : 'operation'})` }] : []));

const rule = object<AuthorizationRule>(
  {
    from: withDefault(nonEmptyList(object({ source: required(source) }, { strict: true }), 'from'), []),
    to: withDefault(nonEmptyList(object({ operation: required(operation) }, { strict: true }), 'to'), []),
    when: withDefault(list(condition), []),
  },
  { strict: true },
);

/** Go's strconv.ParseBool, which Istio uses for the dry-run annotation. */
function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

type RawAuthorizationPolicy = Body<Omit<AuthorizationPolicy, 'dryRun' | 'action' | 'targetRefs'>> & {
  action: AuthorizationPolicy['action'] | 'CUSTOM';
  targetRef?: PolicyTargetRef;
  targetRefs?: PolicyTargetRef[];
  provider?: { name?: string };
};

const authorizationPolicyFields = object<RawAuthorizationPolicy>(
  {
    kind: fixed('AuthorizationPolicy'),
    ...metadata,
    selector: optional(workloadSelector, 'spec.selector'),
    targetRef: optional(targetRefOut, 'spec.targetRef'),
    targetRefs: optional(list(targetRefOut), 'spec.targetRefs'),
    action: withDefault(oneOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const), 'ALLOW', 'spec.action'),
    provider: optional(object<{ name?: string }>({ name: optional(text) }, { strict: true }), 'spec.provider'),
    rules: withDefault(list(rule), [], 'spec.rules'),
  },
  { strict: true, ignore: IGNORED_OBJECT_KEYS },
);

export const authorizationPolicy: Decoder<Body<AuthorizationPolicy>> = transform(
  checked(authorizationPolicyFields, (p) => {
    const problems: Problem[] = [];
    const spec = (...at: (string | number)[]) => ['spec', ...at];
    const scopes = [p.selector !== undefined, p.targetRef !== undefined, (p.targetRefs?.length ?? 0) > 0].filter(Boolean).length;
    if (scopes > 1) problems.push({ at: spec(p.targetRefs?.length ? 'targetRefs' : 'targetRef'), message: 'only one of selector, targetRef or targetRefs can be set' });
    if (p.action === 'CUSTOM') {
      problems.push({
        at: spec('action'),
        message:
          'action CUSTOM hands the decision to an ext_authz extension provider (meshConfig.extensionProviders), and this mesh has none, so the policy could not be enforced; use ALLOW or DENY',
      });
    } else if (p.provider !== undefined) {
      problems.push({ at: spec('provider'), message: `\`provider\` must only be used with action CUSTOM, found ${p.action}` });
    }
    // Istio cannot tell `rules: []` from no rules (both are an empty repeated field).
    if (p.action === 'DENY' && p.rules.length === 0) {
      problems.push({ at: spec('action'), message: 'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it to be triggered for every request' });
    }
    const dryRun = p.annotations[ANNOTATION_DRY_RUN];
    if (dryRun !== undefined) {
      if (p.action !== 'ALLOW' && p.action !== 'DENY') {
        problems.push({ at: ['metadata', 'annotations', ANNOTATION_DRY_RUN], message: `the annotation ${ANNOTATION_DRY_RUN} only supports action ALLOW or DENY, found ${p.action}` });
      } else if (parseGoBool(dryRun) === undefined) {
        problems.push({ at: ['metadata', 'annotations', ANNOTATION_DRY_RUN], message: `expected true or false, got "${dryRun}"` });
      }
    }
    return problems;
  }),
  ({ targetRef, targetRefs, provider: _provider, action, ...rest }): Body<AuthorizationPolicy> => ({
    ...rest,
    action: action as AuthorizationPolicy['action'],
    targetRefs: targetRef ? [targetRef] : (targetRefs ?? []),
    dryRun: parseGoBool(rest.annotations[ANNOTATION_DRY_RUN] ?? 'false') ?? false,
  }),
);

// ---- PeerAuthentication ----------------------------------------------------------------------

const MTLS_MODES = ['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE'] as const;
const mtls = object<{ mode: MtlsMode }>({ mode: withDefault(oneOf(MTLS_MODES), 'UNSET') }, { strict: true });

export const peerAuthentication: Decoder<Body<PeerAuthentication>> = transform(
  checked(
    object<Body<Omit<PeerAuthentication, 'portLevelMtls'>> & { portLevelMtls?: Readonly<Record<number, { mode: MtlsMode }>> }>(
      {
        kind: fixed('PeerAuthentication'),
        ...metadata,
        creationTimestamp: optional(text, 'metadata.creationTimestamp'),
        selector: optional(workloadSelector, 'spec.selector'),
        mtlsMode: withDefault(oneOf(MTLS_MODES), 'UNSET', 'spec.mtls.mode'),
        portLevelMtls: optional(portMap(mtls), 'spec.portLevelMtls'),
      },
      { strict: true, ignore: IGNORED_OBJECT_KEYS.filter((k) => k !== 'metadata.creationTimestamp') },
    ),
    (p) => {
      if (p.portLevelMtls === undefined) return [];
      if (!p.selector || Object.keys(p.selector.matchLabels).length === 0) {
        return [{ at: ['spec', 'portLevelMtls'], message: 'mesh/namespace peer authentication cannot have port level mTLS (add a selector)' }];
      }
      if (Object.keys(p.portLevelMtls).length === 0) return [{ at: ['spec', 'portLevelMtls'], message: 'port level mTLS, if defined, must have at least one element' }];
      return [];
    },
  ),
  ({ portLevelMtls, ...rest }): Body<PeerAuthentication> => ({
    ...rest,
    portLevelMtls: Object.fromEntries(Object.entries(portLevelMtls ?? {}).map(([port, m]) => [port, m.mode])),
  }),
);

