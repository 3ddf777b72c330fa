/**
 * meshctl against a Kubernetes cluster (`--kubeconfig` / `--context`), as istioctl works: it finds
 * istiod-lite (pods labelled `app=istiod` in `istio-system`) and each node's ztunnel (the DaemonSet's
 * pods, `app=ztunnel`, by `spec.nodeName`) through the API server, and reaches their loopback-only
 * HTTP surfaces (istiod-lite's debug API on 15014, ztunnel's admin API on 15000) by port-forward
 * through the API server (`pods/portforward`, the WebSocket protocol @kubernetes/client-node
 * speaks), which a kubelet on the pod's node carries out. docs/kubernetes.md, "meshctl against a
 * cluster", says what has run here (no kubelet: resolution yes, a forward that succeeds no).
 *
 * The choice of pod is pure (`resolveZtunnelPod`, `pickIstiodPod`) over `KubePod`s; the API
 * client loads only when a flag asks for a cluster.
 */
import { randomBytes } from 'node:crypto';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { PassThrough, Duplex } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { MeshError } from '@mesh/errors';

export const MESH_NAMESPACE = 'istio-system';
export const ISTIOD_POD_LABEL = 'app=istiod';
export const ZTUNNEL_POD_LABEL = 'app=ztunnel';
/** istiod-lite's debug API (loopback in its pod), Istio's 15014. */
export const ISTIOD_DEBUG_PORT = 15014;
/** ztunnel's admin API (loopback on its node), Istio's 15000. */
export const ZTUNNEL_ADMIN_PORT = 15000;

export interface KubeFlags {
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

/** What meshctl needs of a Pod. */
export interface KubePod {
  namespace: string;
  name: string;
  nodeName: string | undefined;
  phase: string | undefined;
  ready: boolean;
}

export interface PodRef {
  namespace: string;
  name: string;
}

export interface KubeAccess {
  /** The API server, for messages. */
  readonly server: string;
  pods(namespace: string, labelSelector: string): Promise<KubePod[]>;
  /** A byte stream to `port` of the pod, through the API server's `pods/portforward`. */
  portForward(pod: PodRef, port: number): Promise<Duplex>;
}

/** Ready and running first, then by name: the pod a port-forward most likely reaches. */
function preferred(a: KubePod, b: KubePod): number {
  const rank = (p: KubePod) => (p.ready ? 0 : p.phase === 'Running' ? 1 : 2);
  return rank(a) - rank(b) || a.name.localeCompare(b.name);
}

/**
 * `ztunnel-<node>` (the DaemonSet's pod with that spec.nodeName) or the pod's own name, bare or as
 * istioctl's `name.namespace` (`ztunnel-x7k2p`, `ztunnel-x7k2p.istio-system`), as istioctl takes both.
 */
export function resolveZtunnelPod(pods: readonly KubePod[], target: string): KubePod {
  const byName = pods.find((p) => p.name === target || `${p.name}.${p.namespace}` === target);
  if (byName) return byName;
  const node = target.startsWith('ztunnel-') ? target.slice('ztunnel-'.length) : target;
  const onNode = pods.filter((p) => p.nodeName === node).sort(preferred);
  if (onNode[0]) return onNode[0];
  const known = [...pods].sort((a, b) => (a.nodeName ?? '').localeCompare(b.nodeName ?? '')).map((p) => `ztunnel-${p.nodeName ?? '(unscheduled)'} (pod ${p.name})`);
  // A dotted target may be a node name (often a FQDN) or a pod's name.namespace: say both were tried.
  const tried = target.includes('.') ? `no ztunnel pod is ${target} (name.namespace) and no ztunnel runs on node ${node}` : `no ztunnel runs on node ${node}`;
  throw new MeshError('MESHCTL_ERR_UNKNOWN_TARGET', `${tried}: ztunnels (pods labelled ${ZTUNNEL_POD_LABEL} in ${MESH_NAMESPACE}): ${known.join(', ') || 'none'}`, {
    hint: 'a ztunnel target is ztunnel-<node> or the ztunnel pod name',
    context: { target },
  });
}

export function pickIstiodPod(pods: readonly KubePod[]): KubePod {
  const pod = [...pods].sort(preferred)[0];
  if (!pod) {
    throw new MeshError('MESHCTL_ERR_NO_ISTIOD', `no istiod-lite pod (label ${ISTIOD_POD_LABEL}) in namespace ${MESH_NAMESPACE}`, {
      hint: 'is istiod-lite installed (deploy/kubernetes) and is this the right --context? --istiod <host:port> reaches one directly',
    });
  }
  return pod;
}

/** One line: which pod, which port, why (what the API server or kubelet said). */
export function portForwardError(pod: PodRef, port: number, reason: string, cause?: unknown): MeshError {
  const why = reason.replace(/\s+/g, ' ').trim() || 'the connection closed';
  return new MeshError('MESHCTL_ERR_PORT_FORWARD', `cannot port-forward to pod ${pod.namespace}/${pod.name} port ${port}: ${why}`, {
    cause,
    hint: 'a port-forward needs a kubelet on the pod\'s node and RBAC create on pods/portforward; on the node itself meshctl reaches the admin API without one (its Unix socket, or --admin)',
    context: { namespace: pod.namespace, pod: pod.name, port },
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'message' in err ? String((err as { message: unknown }).message) : String(err);
}

/**
 * Why the API server refused a port-forward. The WebSocket client says only "Unexpected server
 * response: 500"; the reason (`error dialing backend: …`, `pods "x" not found`, a 403) is in the
 * Status the API server answers an upgrade request with, so the same request is made once more
 * and that Status read. Undefined when it cannot be had (then the WebSocket's own words stand).
 */
async function refusalReason(config: KubeConfig, path: string): Promise<string | undefined> {
  const server = config.getCurrentCluster()?.server;
  if (!server) return undefined;
  const options: RequestOptions = {
    method: 'GET',
    headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': 'v4.channel.k8s.io' },
    timeout: 10_000,
  };
  await config.applyToHTTPSOptions(options);
  return new Promise((resolve) => {
    const req = httpsRequest(new URL(path, server), options, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body = (body + chunk.toString('utf8')).slice(0, 4096)));
      res.on('end', () => {
        try {
          const status = JSON.parse(body) as { message?: unknown };
          resolve(typeof status.message === 'string' ? `${status.message} (HTTP ${res.statusCode})` : undefined);
        } catch {
          resolve(body.trim() ? `${body.trim().slice(0, 300)} (HTTP ${res.statusCode})` : undefined);
        }
      });
    });
    // It upgraded this time: whatever failed before is not reproducible; say what the WebSocket said.
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(undefined);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

export async function openKubeAccess(flags: KubeFlags): Promise<KubeAccess> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  try {
    if (flags.kubeconfig) config.loadFromFile(flags.kubeconfig);
    else config.loadFromDefault();
    if (flags.context) config.setCurrentContext(flags.context);
  } catch (err) {
    throw new MeshError('MESHCTL_ERR_KUBECONFIG', `cannot load the kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ''}: ${(err as Error).message}`, { cause: err });
  }
  if (flags.context && !config.getContexts().some((c) => c.name === flags.context)) {
    throw new MeshError('MESHCTL_ERR_KUBECONFIG', `no context ${flags.context} in the kubeconfig; contexts: ${config.getContexts().map((c) => c.name).join(', ') || 'none'}`);
  }
  const server = config.getCurrentCluster()?.server ?? '(no cluster)';
  const core = config.makeApiClient(k8s.CoreV1Api);
  return {
    server,
    async pods(namespace, labelSelector) {
      let list;
      try {
        list = await core.listNamespacedPod({ namespace, labelSelector });
      } catch (err) {
        const code = (err as { code?: number }).code;
        const why = code === 403 ? 'forbidden (RBAC: list pods)' : code === 401 ? 'unauthorized (the kubeconfig\'s credentials)' : (err as Error).message.split('\n')[0];
        throw new MeshError('MESHCTL_ERR_KUBE_API', `cannot list pods (${labelSelector}) in ${namespace} at ${server}: ${why}`, { cause: err });
      }
      return list.items.map((p) => ({
        namespace: p.metadata?.namespace ?? namespace,
        name: p.metadata?.name ?? '',
        nodeName: p.spec?.nodeName,
        phase: p.status?.phase,
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      }));
    },
    async portForward(pod, port) {
      const input = new PassThrough();
      const output = new PassThrough();
      const errors = new PassThrough();
      let socket: { close(): void; on?(event: string, listener: () => void): unknown } | undefined;
      try {
        const opened = await new k8s.PortForward(config, true).portForward(pod.namespace, pod.name, [port], output, errors, input);
        socket = typeof opened === 'function' ? (opened() ?? undefined) : opened;
      } catch (err) {
        const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/portforward?ports=${port}`;
        const reason = await refusalReason(config, path).catch(() => undefined);
        throw portForwardError(pod, port, reason ?? errorMessage(err), err);
      }
      const stream = new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, done) {
          input.write(chunk, done);
        },
        final(done) {
          input.end();
          done();
        },
        destroy(err, done) {
          socket?.close();
          done(err);
        },
      });
      output.on('data', (chunk: Buffer) => stream.push(chunk));
      // The kubelet's error channel: the forward was accepted, the pod's port was not reachable.
      errors.on('data', (chunk: Buffer) => stream.destroy(portForwardError(pod, port, chunk.toString('utf8'))));
      socket?.on?.('close', () => stream.push(null));
      return stream;
    },
  };
}
