/**
 * ztunnel's model in force and how it changes: @mesh/proxy-runtime's `SwapModelStore` (validate,
 * then commit after the ACK; the new model replaces the old one in a single assignment, so a
 * connection being planned sees either the old or the new config, never a mix).
 *
 * Two dialects feed the one model (`--xds-dialect`): the Envoy dialect (LDS, CDS, EDS, each type
 * compiled on its own) and Istio's workload dialect (Address and Authorization, converted per
 * resource with @mesh/workload-api and compiled together by config/workload.ts, because a
 * workload's chains need its policies and a service's endpoints need its workloads).
 */
import { SwapModelStore, type Candidate, type ModelChange as SwapModelChange } from '@mesh/proxy-runtime';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { attempt } from '@mesh/envoy-config';
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki';
import { addressFromXds, addressResourceName, authorizationFromXds, authorizationResourceName, type ZtunnelPolicy, type ZtunnelService, type ZtunnelWorkload } from '@mesh/workload-api';
import { compileClusters, compileEndpoints, compileListeners, emptyModel, withPart, type RuntimeModel, compileWorkloadModel, EMPTY_WORKLOAD_STATE, type WorkloadState } from '@mesh/ztunnel-plan';

export type XdsDialect = 'envoy' | 'workload';

/** What each dialect subscribes to, in the order the control plane should answer. */
export const DIALECT_TYPE_URLS: Readonly<Record<XdsDialect, readonly string[]>> = {
  envoy: [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER],
  workload: [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION],
};

type Part = Partial<Pick<RuntimeModel, 'listeners' | 'clusters' | 'endpoints'>>;

export type ModelChange = SwapModelChange<RuntimeModel>;

export interface ModelStoreOptions {
  readonly dialect?: XdsDialect;
  /** The node this ztunnel serves (the workload dialect sends every node the same resources). */
  readonly nodeName?: string;
  /** For workloads whose trust domain is elided (the mesh default). */
  readonly trustDomain?: string;
}

type WorkloadRecords = { state: WorkloadState; services: readonly ZtunnelService[] };

export class ModelStore extends SwapModelStore<RuntimeModel> {
  readonly dialect: XdsDialect;
  readonly #nodeName: string;
  readonly #trustDomain: string;
  /**
   * Conversions by decoded resource: the xDS client keeps an unchanged resource's object across
   * updates (delta sends only what changed), so each is converted once, not on every update.
   */
  readonly #conversions = new WeakMap<ResourceJson, { value: unknown; error?: undefined } | { value?: undefined; error: string }>();
  #workload: WorkloadRecords = { state: EMPTY_WORKLOAD_STATE, services: [] };

  constructor(options: ModelStoreOptions = {}) {
    super(emptyModel());
    this.dialect = options.dialect ?? 'envoy';
    this.#nodeName = options.nodeName ?? '';
    this.#trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  }

  get typeUrls(): readonly string[] {
    return DIALECT_TYPE_URLS[this.dialect];
  }

  /** The workload dialect's records in force (empty in the Envoy dialect), services with their endpoints. */
  get workloadState(): { readonly state: WorkloadState; readonly services: readonly ZtunnelService[] } {
    return this.#workload;
  }

  protected compile(typeUrl: string, resources: readonly ResourceJson[]): Candidate<RuntimeModel> {
    if (!this.typeUrls.includes(typeUrl)) return { error: `ztunnel (${this.dialect} dialect) does not subscribe to ${typeUrl}` };
    const compiled: { part: Part; workload?: WorkloadRecords } | { error: string } =
      this.dialect === 'workload' ? this.#compileWorkload(typeUrl, resources) : compileEnvoyPart(typeUrl, resources);
    if ('error' in compiled) return compiled;
    const { part, workload } = compiled;
    return { next: (model) => withPart(model, part), ...(workload ? { onCommit: () => void (this.#workload = workload) } : {}) };
  }

  #converted<T>(resource: ResourceJson, convert: () => T): { value: T; error?: undefined } | { value?: undefined; error: string } {
    let r = this.#conversions.get(resource);
    if (!r) this.#conversions.set(resource, (r = attempt(convert)));
    return r as { value: T; error?: undefined } | { value?: undefined; error: string };
  }

  /**
   * One workload-dialect type replaces its records; the model is compiled from them and the
   * other type's records in force. Every resource is converted on its own, and the NACK names
   * each one that fails and why.
   */
  #compileWorkload(typeUrl: string, resources: readonly ResourceJson[]): { part: Part; workload: WorkloadRecords } | { error: string } {
    const errors: string[] = [];
    const current = this.#workload.state;
    let next: WorkloadState;
    if (typeUrl === TYPE_URL.ADDRESS) {
      const workloads = new Map<string, ZtunnelWorkload>();
      const services = new Map<string, ZtunnelService>();
      for (const resource of resources) {
        const r = this.#converted(resource, () => addressFromXds(resource, { trustDomain: this.#trustDomain }));
        if (r.error !== undefined) errors.push(`Address ${addressResourceName(resource) ?? '(unnamed)'}: ${r.error}`);
        else if (r.value.kind === 'workload') workloads.set(r.value.workload.uid, r.value.workload);
        else services.set(`${r.value.service.namespace}/${r.value.service.hostname}`, r.value.service);
      }
      next = { ...current, workloads, services };
    } else {
      const policies = new Map<string, ZtunnelPolicy>();
      for (const resource of resources) {
        const r = this.#converted(resource, () => authorizationFromXds(resource));
        if (r.error !== undefined) errors.push(`Authorization ${authorizationResourceName(resource) ?? '(unnamed)'}: ${r.error}`);
        else policies.set(`${r.value.namespace}/${r.value.name}`, r.value);
      }
      next = { ...current, policies };
    }
    if (errors.length > 0) return { error: errors.join('; ') };
    const compiled = attempt(() => compileWorkloadModel(next, this.#nodeName));
    if (compiled.error !== undefined) return { error: compiled.error };
    const { listeners, clusters, endpoints, services } = compiled.value;
    return { part: { listeners, clusters, endpoints }, workload: { state: next, services } };
  }
}

function compileEnvoyPart(typeUrl: string, resources: readonly ResourceJson[]): { part: Part } | { error: string } {
  switch (typeUrl) {
    case TYPE_URL.LISTENER: {
      const r = compileListeners(resources);
      return r.error !== undefined ? { error: r.error } : { part: { listeners: r.value } };
    }
    case TYPE_URL.CLUSTER: {
      const r = compileClusters(resources);
      return r.error !== undefined ? { error: r.error } : { part: { clusters: r.value } };
    }
    case TYPE_URL.CLUSTER_LOAD_ASSIGNMENT: {
      const r = compileEndpoints(resources);
      return r.error !== undefined ? { error: r.error } : { part: { endpoints: r.value } };
    }
    default:
      return { error: `ztunnel does not subscribe to ${typeUrl}` };
  }
}
