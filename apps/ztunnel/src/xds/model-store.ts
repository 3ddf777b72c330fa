/**
 * The model in force and how it changes. An xDS update is validated first (compiled; a reason
 * string means NACK and nothing changes), then committed once the client has ACKed it; the new
 * model replaces the old one in a single assignment, so a connection being planned sees either
 * the old or the new config, never a mix. Per-type state (version, resources) is kept for
 * `/config_dump`.
 *
 * Two dialects feed the one model (`--xds-dialect`): the Envoy dialect (LDS, CDS, EDS, each type
 * compiled on its own) and Istio's workload dialect (Address and Authorization, converted per
 * resource with @mesh/workload-api and compiled together by config/workload.ts, because a
 * workload's chains need its policies and a service's endpoints need its workloads).
 */
import { EventEmitter } from 'node:events';
import { TYPE_URL, type ConfigDumpTypeState, type ResourceJson } from '@mesh/xds';
import { attempt } from '@mesh/envoy-config';
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki';
import { addressFromXds, addressResourceName, authorizationFromXds, authorizationResourceName, type ZtunnelPolicy, type ZtunnelService, type ZtunnelWorkload } from '@mesh/workload-api';
import { compileClusters, compileEndpoints, compileListeners, emptyModel, withPart, type RuntimeModel } from '@mesh/ztunnel-plan';
import { compileWorkloadModel, EMPTY_WORKLOAD_STATE, type WorkloadState } from '@mesh/ztunnel-plan';

export type XdsDialect = 'envoy' | 'workload';

/** What each dialect subscribes to, in the order the control plane should answer. */
export const DIALECT_TYPE_URLS: Readonly<Record<XdsDialect, readonly string[]>> = {
  envoy: [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER],
  workload: [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION],
};

type Part = Partial<Pick<RuntimeModel, 'listeners' | 'clusters' | 'endpoints'>>;

export interface ModelChange {
  readonly typeUrl: string;
  readonly model: RuntimeModel;
  readonly previous: RuntimeModel;
}

export interface ModelStoreOptions {
  readonly dialect?: XdsDialect;
  /** The node this ztunnel serves (the workload dialect sends every node the same resources). */
  readonly nodeName?: string;
  /** For workloads whose trust domain is elided (the mesh default). */
  readonly trustDomain?: string;
}

interface Pending {
  version: string;
  resources: ResourceJson[];
  part: Part;
  workload?: { state: WorkloadState; services: readonly ZtunnelService[] };
}

export class ModelStore extends EventEmitter {
  readonly dialect: XdsDialect;
  readonly #nodeName: string;
  readonly #trustDomain: string;
  #model: RuntimeModel = emptyModel();
  /**
   * Conversions by decoded resource: the xDS client keeps an unchanged resource's object across
   * updates (delta sends only what changed), so each is converted once, not on every update.
   */
  readonly #conversions = new WeakMap<ResourceJson, { value: unknown; error?: undefined } | { value?: undefined; error: string }>();
  #workload: { state: WorkloadState; services: readonly ZtunnelService[] } = { state: EMPTY_WORKLOAD_STATE, services: [] };
  readonly #pending = new Map<string, Pending>();
  readonly #states = new Map<string, ConfigDumpTypeState>();

  constructor(options: ModelStoreOptions = {}) {
    super();
    this.dialect = options.dialect ?? 'envoy';
    this.#nodeName = options.nodeName ?? '';
    this.#trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  }

  get typeUrls(): readonly string[] {
    return DIALECT_TYPE_URLS[this.dialect];
  }

  get model(): RuntimeModel {
    return this.#model;
  }

  /** What each type last committed: for config_dump. */
  get typeStates(): ReadonlyMap<string, ConfigDumpTypeState> {
    return this.#states;
  }

  /** The workload dialect's records in force (empty in the Envoy dialect), services with their endpoints. */
  get workloadState(): { readonly state: WorkloadState; readonly services: readonly ZtunnelService[] } {
    return this.#workload;
  }

  /** Has every type arrived at least once? */
  get synced(): boolean {
    return this.typeUrls.every((t) => this.#states.has(t));
  }

  /** Compiles an update; returns the NACK reason, or undefined and keeps the result for commit(). */
  validate(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined {
    if (!this.typeUrls.includes(typeUrl)) return `ztunnel (${this.dialect} dialect) does not subscribe to ${typeUrl}`;
    const compiled = this.dialect === 'workload' ? this.#compileWorkload(typeUrl, resources) : compileEnvoyPart(typeUrl, resources);
    if ('error' in compiled) return compiled.error;
    this.#pending.set(typeUrl, { version, resources: [...resources], ...compiled });
    return undefined;
  }

  /** Puts the last validated update of `typeUrl` in force. */
  commit(typeUrl: string): void {
    const pending = this.#pending.get(typeUrl);
    if (!pending) return;
    this.#pending.delete(typeUrl);
    const previous = this.#model;
    this.#model = withPart(previous, pending.part);
    if (pending.workload) this.#workload = pending.workload;
    this.#states.set(typeUrl, { version: pending.version, lastUpdated: new Date().toISOString(), resources: pending.resources });
    this.emit('change', { typeUrl, model: this.#model, previous } satisfies ModelChange);
  }

  /** validate + commit, for in-process control planes and tests. */
  apply(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined {
    const reason = this.validate(typeUrl, version, resources);
    if (reason === undefined) this.commit(typeUrl);
    return reason;
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
  #compileWorkload(typeUrl: string, resources: readonly ResourceJson[]): { part: Part; workload: NonNullable<Pending['workload']> } | { error: string } {
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
