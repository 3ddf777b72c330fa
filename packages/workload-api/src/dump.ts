/**
 * What a workload-dialect ztunnel holds, in the JSON shapes Istio's ztunnel prints on its admin
 * `/config_dump` (camelCase, addresses as text, `network/ip` keys), which istioctl's
 * `ztunnel-config` reads: `{workloads, services, policies, certificates}`. The ztunnel of this
 * project serves exactly these records, and meshctl reads them back, so the same types describe
 * both ends. Field meanings: docs/workload-api.md.
 */

/** Where a waypoint or gateway accepts HBONE: `namespace/hostname` or `network/ip`. */
export interface ZtunnelGatewayAddress {
  readonly destination: string;
  readonly hboneMtlsPort: number;
}

export type ZtunnelProtocol = 'HBONE' | 'TCP';
export type ZtunnelWorkloadStatus = 'Healthy' | 'Unhealthy';

/** service port (as text) → target port; 0 means "the same as the service port". */
export type ZtunnelPorts = Readonly<Record<string, number>>;

export interface ZtunnelWorkload {
  /** The xDS resource name, e.g. `Kubernetes//Pod/default/sleep`. */
  readonly uid: string;
  readonly workloadIps: readonly string[];
  readonly waypoint?: ZtunnelGatewayAddress;
  /** How peers reach it: HBONE when a ztunnel (or the workload itself) terminates tunnels for it. */
  readonly protocol: ZtunnelProtocol;
  /** The workload speaks HBONE itself (a waypoint): no ztunnel serves it. */
  readonly nativeTunnel?: boolean;
  readonly name: string;
  readonly namespace: string;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  readonly workloadName: string;
  readonly workloadType: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly clusterId: string;
  readonly node: string;
  readonly network: string;
  readonly status: ZtunnelWorkloadStatus;
  readonly networkMode?: 'HostNetwork';
  /** `namespace/hostname` → ports, for every service the workload backs. */
  readonly services: Readonly<Record<string, ZtunnelPorts>>;
  /** `namespace/name` of the WORKLOAD_SELECTOR policies that select it. */
  readonly authorizationPolicies?: readonly string[];
}

export interface ZtunnelEndpoint {
  readonly workloadUid: string;
  /** `namespace/hostname` of the service. */
  readonly service: string;
  /** `network/ip` of the workload. */
  readonly address?: string;
  readonly port: ZtunnelPorts;
}

export interface ZtunnelService {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  /** `network/ip` per VIP. */
  readonly vips: readonly string[];
  readonly ports: ZtunnelPorts;
  /** service port → `http` or `tcp` (from the port's app protocol), for chain names and telemetry. */
  readonly appProtocols?: Readonly<Record<string, string>>;
  readonly waypoint?: ZtunnelGatewayAddress;
  /** Keyed `<workload uid>:<network/ip>`, as ztunnel does; derived from the workloads' `services`. */
  readonly endpoints: Readonly<Record<string, ZtunnelEndpoint>>;
  readonly subjectAltNames: readonly string[];
  readonly ipFamilies: string;
}

/** One kind of StringMatch, spelled as ztunnel's serde does. */
export type ZtunnelStringMatch =
  | { readonly Exact: string }
  | { readonly Prefix: string }
  | { readonly Suffix: string }
  | { readonly Presence: readonly never[] };

export interface ZtunnelServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Every kind that is present must match; a match with no kind at all matches nothing. */
export interface ZtunnelPolicyMatch {
  readonly namespaces?: readonly ZtunnelStringMatch[];
  readonly notNamespaces?: readonly ZtunnelStringMatch[];
  readonly serviceAccounts?: readonly ZtunnelServiceAccountMatch[];
  readonly notServiceAccounts?: readonly ZtunnelServiceAccountMatch[];
  readonly principals?: readonly ZtunnelStringMatch[];
  readonly notPrincipals?: readonly ZtunnelStringMatch[];
  /** CIDRs, `10.0.0.0/8`. */
  readonly sourceIps?: readonly string[];
  readonly notSourceIps?: readonly string[];
  readonly destinationIps?: readonly string[];
  readonly notDestinationIps?: readonly string[];
  readonly destinationPorts?: readonly number[];
  readonly notDestinationPorts?: readonly number[];
}

export type ZtunnelPolicyScope = 'Global' | 'Namespace' | 'WorkloadSelector';
export type ZtunnelPolicyAction = 'Allow' | 'Deny';

export interface ZtunnelPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly scope: ZtunnelPolicyScope;
  readonly action: ZtunnelPolicyAction;
  /** groups (OR) → rules (AND) → matches (OR). */
  readonly rules: readonly (readonly (readonly ZtunnelPolicyMatch[])[])[];
  readonly dryRun: boolean;
}

export interface ZtunnelCertificate {
  readonly identity: string;
  readonly state: 'Available' | 'Initializing' | 'Unavailable';
  readonly certChain: readonly { pem: string; serialNumber: string; validFrom: string; expirationTime: string }[];
  readonly rootCerts: readonly { pem: string; serialNumber: string; validFrom: string; expirationTime: string }[];
}

/** The admin `/config_dump` of a workload-dialect ztunnel. */
export interface ZtunnelDump {
  readonly workloads: readonly ZtunnelWorkload[];
  readonly services: readonly ZtunnelService[];
  readonly policies: readonly ZtunnelPolicy[];
  readonly certificates: readonly ZtunnelCertificate[];
}

/** `namespace/name`: the xDS name of an Authorization and how workloads list policies. */
export function policyKey(policy: { readonly namespace: string; readonly name: string }): string {
  return `${policy.namespace}/${policy.name}`;
}

/** `namespace/hostname`: the xDS name of a Service and the key of a workload's `services`. */
export function serviceKey(service: { readonly namespace: string; readonly hostname: string }): string {
  return `${service.namespace}/${service.hostname}`;
}

/** `spiffe://<td>/ns/<ns>/sa/<sa>` of a workload. */
export function workloadIdentity(w: Pick<ZtunnelWorkload, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return `spiffe://${w.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
}

/** Is this a dump of a workload-dialect ztunnel (rather than an Envoy `ConfigDump`)? */
export function isZtunnelDump(value: unknown): value is ZtunnelDump {
  return typeof value === 'object' && value !== null && Array.isArray((value as Record<string, unknown>)['workloads']) && !('configs' in value);
}
