import { compileEnvoyModel, type RuntimeModel } from '@mesh/ztunnel-plan';
import { buildFakeResources, type FakeMesh, type FakeResources } from './mesh-resources.js';

/** Compiles resources into a model, throwing the NACK reason if any type is refused. */
export function modelOf(resources: FakeResources | { listeners: unknown[]; clusters: unknown[]; endpoints: unknown[] }): RuntimeModel {
  const compiled = compileEnvoyModel(resources);
  if (compiled.error !== undefined) throw new Error(compiled.error);
  return compiled.value;
}

export function modelForNode(mesh: FakeMesh, node: string): RuntimeModel {
  return modelOf(buildFakeResources(mesh, node));
}
