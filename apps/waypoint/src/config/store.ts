/**
 * The waypoint's running config: one compiled part per xDS type, in @mesh/proxy-runtime's
 * `SwapModelStore`. `validate` compiles a candidate (the NACK reason on failure, nothing
 * changes); `commit` puts a new model with that part in force in one assignment, so a request
 * that holds a model never sees it change. The last good config of every type stays in force
 * after a NACK.
 */
import { SwapModelStore, type Candidate } from '@mesh/proxy-runtime';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { attempt } from '@mesh/envoy-config';
import { compileClusters, compileEndpoints, compileListeners, type ClusterModel, type Endpoint, type ListenerModel, type OriginateModel } from './model.js';
import { compileRouteConfiguration, type CompiledRouteConfig } from '../routing/routes.js';

export const SUPPORTED_TYPE_URLS: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, TYPE_URL.ROUTE_CONFIGURATION];

export interface WaypointModel {
  readonly listeners?: ListenerModel;
  readonly clusters?: { readonly clusters: ReadonlyMap<string, ClusterModel>; readonly originate: OriginateModel };
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  readonly routes: ReadonlyMap<string, CompiledRouteConfig>;
}

export class ModelStore extends SwapModelStore<WaypointModel> {
  constructor() {
    super({ endpoints: new Map(), routes: new Map() });
  }

  get typeUrls(): readonly string[] {
    return SUPPORTED_TYPE_URLS;
  }

  /** The waypoint's compilers read any JSON and say what is wrong with it, so any array goes. */
  override validate(typeUrl: string, version: string, resources: readonly unknown[]): string | undefined {
    return super.validate(typeUrl, version, resources as readonly ResourceJson[]);
  }

  protected compile(typeUrl: string, resources: readonly ResourceJson[]): Candidate<WaypointModel> {
    const compiled = attempt((): ((model: WaypointModel) => WaypointModel) => {
      switch (typeUrl) {
        case TYPE_URL.LISTENER: {
          const listeners = compileListeners(resources);
          return (model) => ({ ...model, listeners });
        }
        case TYPE_URL.CLUSTER: {
          const clusters = compileClusters(resources);
          return (model) => ({ ...model, clusters });
        }
        case TYPE_URL.CLUSTER_LOAD_ASSIGNMENT: {
          const endpoints = compileEndpoints(resources);
          return (model) => ({ ...model, endpoints });
        }
        case TYPE_URL.ROUTE_CONFIGURATION: {
          const routes = new Map(resources.map((x, i) => compileRouteConfiguration(x, `routes[${i}]`)).map((rc) => [rc.name, rc] as const));
          return (model) => ({ ...model, routes });
        }
        default:
          return (model) => model;
      }
    });
    return compiled.error !== undefined ? { error: compiled.error } : { next: compiled.value };
  }

  /** Listeners and clusters are known: the waypoint can serve. */
  get ready(): boolean {
    return this.model.listeners !== undefined && this.model.clusters !== undefined;
  }
}
