/**
 * `meshctl analyze` findings in istioctl analyze's shape: a level, a code, the resource it is
 * about (`Kind namespace/name file:line`) and a message. Where Istio has an analysis message for
 * the problem its code and wording are used (istio.io/latest/docs/reference/config/analysis);
 * problems Istio has no message for keep this mesh's stable name (e.g. `SERVICE_NO_ENDPOINTS`).
 */
export type AnalysisLevel = 'Error' | 'Warning' | 'Info';

export interface AnalysisMessage {
  /** `IST0101`, or this mesh's name for a problem Istio has no message for. */
  readonly code: string;
  readonly level: AnalysisLevel;
  /** `Pod default/sleep`, `Node node-a` (istioctl's origin). */
  readonly origin: string;
  /** `file:line` of the resource, when known. */
  readonly reference: string | undefined;
  /** The field the finding is about, e.g. `spec.nodeName` (empty for the whole resource). */
  readonly path: string;
  readonly message: string;
}

export const LEVEL_RANK: Record<AnalysisLevel, number> = { Error: 3, Warning: 2, Info: 1 };

/** Istio's analysis messages this mesh reports, with their fixed levels and wording. */
export const IST = {
  /** ReferencedResourceNotFound. */
  referencedResourceNotFound: (kind: string, value: string) => ({ code: 'IST0101', level: 'Error' as const, message: `Referenced ${kind} not found: "${value}"` }),
  /** SchemaValidationError. */
  schemaValidationError: (detail: string) => ({ code: 'IST0106', level: 'Error' as const, message: `Schema validation error: ${detail}` }),
  /** NoMatchingWorkloadsFound. */
  noMatchingWorkloads: (labels: string) => ({ code: 'IST0127', level: 'Warning' as const, message: `No matching workloads for this resource with the following labels: ${labels}` }),
  /** IneffectiveSelector: a workload selector that picks a waypoint's pod (a Kubernetes Gateway). */
  ineffectiveSelector: (gateway: string) => ({ code: 'IST0166', level: 'Warning' as const, message: `Ineffective selector on Kubernetes Gateway ${gateway}. Use the TargetRef field instead.` }),
  /** NegativeConditionStatus: a status condition that shows a problem (Gateway API Accepted, ResolvedRefs). */
  negativeCondition: (type: string, reason: string, message: string) => ({
    code: 'IST0171',
    level: 'Warning' as const,
    message: `A condition with a negative status is present: type=${type}, reason=${reason}, message=${message}`,
  }),
  /** IneffectivePolicy. */
  ineffectivePolicy: (reason: string) => ({ code: 'IST0167', level: 'Warning' as const, message: `The policy has no impact: ${reason}` }),
};

/** The documentation page istioctl links for an IST code. */
export function documentationUrl(code: string): string | undefined {
  return /^IST\d{4}$/.test(code) ? `https://istio.io/latest/docs/reference/config/analysis/${code.toLowerCase()}/` : undefined;
}

/** istioctl analyze's log line: `Error [IST0101] (Pod default/b mesh.yaml:17) Referenced node not found: "node-z"`, then the field. */
export function formatMessage(m: AnalysisMessage): string {
  const origin = [m.origin, m.reference].filter(Boolean).join(' ');
  return `${m.level} [${m.code}] (${origin}) ${m.message}${m.path ? ` (at ${m.path})` : ''}`;
}

/** `-o json|yaml`: istioctl's keys (code, level, origin, reference, message, documentationUrl), and the field path. */
export function structuredMessage(m: AnalysisMessage): Record<string, string> {
  const url = documentationUrl(m.code);
  return { code: m.code, level: m.level, origin: m.origin, ...(m.reference ? { reference: m.reference } : {}), ...(m.path ? { path: m.path } : {}), message: m.message, ...(url ? { documentationUrl: url } : {}) };
}
