/** A whole Envoy-dialect snapshot (LDS + CDS + EDS resources) → one runtime model, as ztunnel holds it once synced. */
import { compileClusters, compileEndpoints, compileListeners, emptyModel, withPart, type RuntimeModel } from './model.js';

export interface EnvoyResources {
  readonly listeners: readonly unknown[];
  readonly clusters: readonly unknown[];
  readonly endpoints: readonly unknown[];
}

/** The model, or the first type's NACK reason (the resource and field it cannot run). */
export function compileEnvoyModel(resources: EnvoyResources): { value: RuntimeModel; error?: undefined } | { value?: undefined; error: string } {
  const l = compileListeners(resources.listeners);
  const c = compileClusters(resources.clusters);
  const e = compileEndpoints(resources.endpoints);
  if (l.error !== undefined || c.error !== undefined || e.error !== undefined) return { error: (l.error ?? c.error ?? e.error) as string };
  return { value: withPart(emptyModel(), { listeners: l.value, clusters: c.value, endpoints: e.value }) };
}
