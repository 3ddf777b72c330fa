/**
 * The ztunnels `x explain` can speak for, in either config dialect: each one's name, the runtime
 * model ztunnel compiles from its config (@mesh/ztunnel-plan), and the dump to show facts from.
 *
 *   Envoy dialect     one dump per ztunnel; a pod is served by the ztunnel whose
 *                     `ztunnel_inbound` has a chain for its IP; `compileEnvoyModel(dump)`.
 *   workload dialect  every ztunnel holds the whole mesh (Istio's workload API), so one dump
 *                     answers for every node: a captured pod is served by `ztunnel-<its node>`,
 *                     whose model is `compileWorkloadModel(records, node)`, exactly as ztunnel
 *                     compiles it (apps/ztunnel/src/xds/model-store.ts).
 *
 * Pure: dumps in; each model is compiled once, on first use.
 */
import { attempt } from '@mesh/envoy-config';
import { policyKey, serviceKey, type ZtunnelDump } from '@mesh/workload-api';
import { compileEnvoyModel, compileWorkloadModel, withPart, emptyModel, type RuntimeModel } from '@mesh/ztunnel-plan';
import type { ConfigDump } from '../config-dump/config-dump.js';
import type { NamedDump, WorkloadInfo } from '../config-dump/workloads.js';

export type Compiled = { value: RuntimeModel; error?: undefined } | { value?: undefined; error: string };

export interface ZtunnelNode {
  /** `ztunnel-node-a` (the workload dialect names it after the node), or the dump's name. */
  readonly name: string;
  /** The config the model is compiled from, read only to show the facts of what the trace names. */
  readonly dump: ConfigDump;
  /** The model this ztunnel runs, or why its config does not compile. */
  model(): Compiled;
}

export interface Nodes {
  /** The workload-dialect records, when the source's ztunnel speaks that dialect. */
  readonly held: ZtunnelDump | undefined;
  /** The ztunnel that serves a captured pod (captures its outbound, terminates its tunnels), when meshctl has its config. */
  nodeOf(w: WorkloadInfo): ZtunnelNode | undefined;
  /** Every ztunnel meshctl has a config for, for hints. */
  readonly known: readonly string[];
}

function lazy(name: string, dump: ConfigDump, compile: () => Compiled): ZtunnelNode {
  let compiled: Compiled | undefined;
  return { name, dump, model: () => (compiled ??= compile()) };
}

/**
 * The dialect is the source's ztunnel's: a workload-dialect dump of the source's node, or (when
 * no dump is the source's own) any workload-dialect dump given.
 */
export function meshNodes(proxies: readonly NamedDump[], source: WorkloadInfo | undefined): Nodes {
  const sourceHome = proxies.find((p) => p.name === source?.proxy);
  const held = (sourceHome ? sourceHome.dump : proxies.find((p) => p.dump.workload)?.dump)?.workload;
  if (held) return workloadNodes(proxies, held);
  const byName = new Map(proxies.map((p) => [p.name, lazy(p.name, p.dump, () => compileEnvoyModel(p.dump))]));
  return { held: undefined, nodeOf: (w) => (w.proxy === undefined ? undefined : byName.get(w.proxy)), known: [...byName.keys()] };
}

function workloadNodes(proxies: readonly NamedDump[], held: ZtunnelDump): Nodes {
  const dump = proxies.find((p) => p.dump.workload === held)?.dump as ConfigDump;
  const state = {
    workloads: new Map(held.workloads.map((w) => [w.uid, w])),
    services: new Map(held.services.map((s) => [serviceKey(s), s])),
    policies: new Map(held.policies.map((p) => [policyKey(p), p])),
  };
  const nodes = new Map<string, ZtunnelNode>();
  return {
    held,
    nodeOf: (w) => {
      if (!w.hbone || w.node === undefined) return undefined;
      const name = `ztunnel-${w.node}`;
      let node = nodes.get(name);
      if (!node) {
        const nodeName = w.node;
        node = lazy(name, dump, () => {
          const compiled = attempt(() => compileWorkloadModel(state, nodeName));
          if (compiled.error !== undefined) return compiled;
          const { listeners, clusters, endpoints } = compiled.value;
          return { value: withPart(emptyModel(), { listeners, clusters, endpoints }) };
        });
        nodes.set(name, node);
      }
      return node;
    },
    known: [...new Set(held.workloads.map((w) => `ztunnel-${w.node}`))].sort(),
  };
}
