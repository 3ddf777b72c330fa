/**
 * The Kubernetes programs and CRD modules `npm run setup` builds and fetches from Kubernetes' own
 * Go modules (tools/kube), linked under `<repo>/.state/tools/` (docs/kubernetes.md, "The
 * Kubernetes test tools"). They are never copied into the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

/** packages/kube-local/{src,dist}/ → `<repo>/.state/tools/`. */
export const KUBE_TOOLS_DIR = fileURLToPath(new URL('../../../.state/tools/', import.meta.url));

export type KubeTool = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kubectl' | 'istio-api' | 'gateway-api';

export function kubeToolPath(tool: KubeTool): string {
  return path.join(KUBE_TOOLS_DIR, tool);
}

/** Why `tools` cannot be used here, or undefined when every one is built. */
export function kubeToolsMissing(tools: readonly KubeTool[]): string | undefined {
  const missing = tools.filter((tool) => !existsSync(kubeToolPath(tool)));
  return missing.length === 0 ? undefined : `${missing.join(', ')} not built: run \`npm run setup\` (needs Go and the Go module proxy; a cold build takes ~12 minutes)`;
}

/**
 * Gateway API's release channels: `standard`, or `experimental` (the standard kinds with the
 * fields still being tried out, such as an HTTPRoute rule's `retry`, and the experimental kinds).
 */
export type GatewayApiChannel = 'standard' | 'experimental';

/** The CRDs Istio publishes in istio.io/api and those of a Gateway API channel (default standard), as objects. */
export function realCrds(channel: GatewayApiChannel = 'standard'): KubernetesObject[] {
  const istio = readFileSync(path.join(kubeToolPath('istio-api'), 'kubernetes', 'customresourcedefinitions.gen.yaml'), 'utf8');
  const gatewayDir = path.join(kubeToolPath('gateway-api'), 'config', 'crd', channel);
  const gateway = readdirSync(gatewayDir)
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => readFileSync(path.join(gatewayDir, file), 'utf8'));
  return [istio, ...gateway].flatMap((text) => loadAllYaml(text) as KubernetesObject[]).filter((o) => o?.kind === 'CustomResourceDefinition');
}
