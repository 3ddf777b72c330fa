import { compileClusters, compileEndpoints, compileListeners, emptyModel, withPart, type RuntimeModel } from '@mesh/ztunnel-plan';
import { buildFakeResources, type FakeMesh, type FakeResources } from './mesh-resources.js';

/** Compiles resources into a model, throwing the NACK reason if any type is refused. */
export function modelOf(resources: FakeResources | { listeners: unknown[]; clusters: unknown[]; endpoints: unknown[] }): RuntimeModel {
  const l = compileListeners(resources.listeners);
  const c = compileClusters(resources.clusters);
  const e = compileEndpoints(resources.endpoints);
  if (l.error !== undefined || c.error !== undefined || e.error !== undefined) throw new Error(l.error ?? c.error ?? e.error);
  return withPart(emptyModel(), { listeners: l.value, clusters: c.value, endpoints: e.value });
}

export function modelForNode(mesh: FakeMesh, node: string): RuntimeModel {
  return modelOf(buildFakeResources(mesh, node));
}
