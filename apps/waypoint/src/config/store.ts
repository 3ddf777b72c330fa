/**
 * The waypoint's running config: one compiled part per xDS type. `validate` compiles a candidate
 * (the NACK reason on failure, nothing changes); `commit` makes the last validated candidate of
 * that type current. The last good config of every type stays in force after a NACK.
 */
import { TYPE_URL } from '@mesh/xds';
import { attempt } from '@mesh/envoy-config';
import { compileClusters, compileEndpoints, compileListeners, type ClusterModel, type Endpoint, type ListenerModel, type OriginateModel } from './model.js';
import { compileRouteConfiguration, type CompiledRouteConfig } from '../routing/routes.js';

export const SUPPORTED_TYPE_URLS: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, TYPE_URL.ROUTE_CONFIGURATION];

export interface WaypointModel {
  listeners?: ListenerModel;
  clusters?: { clusters: Map<string, ClusterModel>; originate: OriginateModel };
  endpoints: Map<string, Endpoint[]>;
  routes: Map<string, CompiledRouteConfig>;
}

export class ModelStore {
  readonly model: WaypointModel = { endpoints: new Map(), routes: new Map() };
  readonly #pending = new Map<string, () => void>();

  validate(typeUrl: string, resources: readonly unknown[]): string | undefined {
    const compiled = attempt((): (() => void) => {
      switch (typeUrl) {
        case TYPE_URL.LISTENER: {
          const l = compileListeners(resources);
          return () => (this.model.listeners = l);
        }
        case TYPE_URL.CLUSTER: {
          const c = compileClusters(resources);
          return () => (this.model.clusters = c);
        }
        case TYPE_URL.CLUSTER_LOAD_ASSIGNMENT: {
          const e = compileEndpoints(resources);
          return () => (this.model.endpoints = e);
        }
        case TYPE_URL.ROUTE_CONFIGURATION: {
          const r = new Map(resources.map((x, i) => compileRouteConfiguration(x, `routes[${i}]`)).map((rc) => [rc.name, rc] as const));
          return () => (this.model.routes = r);
        }
        default:
          return () => undefined;
      }
    });
    if (compiled.error !== undefined) return compiled.error;
    this.#pending.set(typeUrl, compiled.value);
    return undefined;
  }

  commit(typeUrl: string): void {
    this.#pending.get(typeUrl)?.();
    this.#pending.delete(typeUrl);
  }

  /** Listeners and clusters are known: the waypoint can serve. */
  get ready(): boolean {
    return this.model.listeners !== undefined && this.model.clusters !== undefined;
  }
}
