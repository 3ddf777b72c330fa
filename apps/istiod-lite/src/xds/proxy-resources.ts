/**
 * The one seam between the ADS server and xDS generation: the server only knows a
 * `ProxyResourceGenerator` (snapshot, proxy) → JSON resources, so it does not depend on the
 * generator's internals. `defaultProxyResourceGenerator()` wires the real
 * `generateZtunnelConfig(snapshot, nodeName)` from `./generate/index.js`.
 */
import type { MeshSnapshot } from '@mesh/mesh-model';
import type { ResourceJson } from '@mesh/xds';
import { MeshError } from '@mesh/errors';
import type { ProxyInfo } from './proxy-node.js';

export interface GeneratedResources {
  listeners: readonly ResourceJson[];
  clusters: readonly ResourceJson[];
  endpoints: readonly ResourceJson[];
  routes?: readonly ResourceJson[];
}

/** Pure: the resources one proxy should run for a snapshot. May throw; the server reports it. */
export type ProxyResourceGenerator = (snapshot: MeshSnapshot, proxy: ProxyInfo) => GeneratedResources;

type ZtunnelGenerator = (snapshot: MeshSnapshot, nodeName: string) => GeneratedResources;

/** The production generator: `generateZtunnelConfig` for the proxy's node. */
export async function defaultProxyResourceGenerator(): Promise<ProxyResourceGenerator> {
  // A computed specifier keeps this module compiling while the generator is written in
  // parallel; replace with a static import once ./generate/index.js exists.
  const specifier = './generate/index.js';
  let generateZtunnelConfig: ZtunnelGenerator | undefined;
  try {
    ({ generateZtunnelConfig } = (await import(specifier)) as { generateZtunnelConfig?: ZtunnelGenerator });
  } catch (cause) {
    throw new MeshError('ISTIOD_ERR_NO_GENERATOR', 'the xDS generator (src/xds/generate/index.ts) could not be loaded', { cause });
  }
  if (typeof generateZtunnelConfig !== 'function') {
    throw new MeshError('ISTIOD_ERR_NO_GENERATOR', 'src/xds/generate/index.ts does not export generateZtunnelConfig');
  }
  const generate = generateZtunnelConfig;
  return (snapshot, proxy) => generate(snapshot, proxy.nodeName);
}
