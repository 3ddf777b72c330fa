/**
 * The objects istiod-lite writes into the cluster besides status, as Istio's istiod does: the
 * `istio-ca-root-cert` ConfigMap of every namespace (kubernetes-root-cert.ts) and a waypoint's
 * ServiceAccount, Deployment and Service per Gateway of class istio-waypoint
 * (kubernetes-waypoints.ts). The plans are pure; this is the small I/O layer that runs them.
 *
 * Invariants:
 * - Namespaces and Gateways come from the config source (its snapshot and the Gateways it parsed,
 *   with their uid); the ConfigMaps from an informer of its own, field-selected to
 *   `metadata.name=istio-ca-root-cert` (so a ConfigMap edited or deleted is corrected or made
 *   again within the debounce).
 * - A ConfigMap is created (POST) or replaced (PUT with the resourceVersion it was planned from:
 *   a 409 waits for the watch's newer version, which plans again).
 * - Waypoint objects are server-side applied (field manager FIELD_MANAGER, force) only when
 *   absent or carrying the Gateway's owner reference: another's object of the same name is left
 *   alone and said once. What was applied is remembered per Gateway and applied again when the
 *   plan changes or every `resyncMs` (a Deployment deleted by hand comes back then). Nothing is
 *   deleted here: the owner reference has the garbage collector delete them with the Gateway.
 * - Failures are logged and retried at the next change or resync; the mesh's config is never
 *   held up by them.
 */
import { HttpMethod, ListWatch, Watch, type KubeConfig, type KubernetesListObject } from '@kubernetes/client-node';
import type { MeshSnapshot } from '@mesh/mesh-model';
import type { Logger } from '../log.js';
import { DEFAULT_DEBOUNCE_MS } from './directory-config-source.js';
import { kubeApiRequest } from './kubernetes-config-source.js';
import type { KubernetesObject } from './kubernetes-objects.js';
import { ROOT_CERT_CONFIG_MAP, planRootCertConfigMaps } from './kubernetes-root-cert.js';
import { FIELD_MANAGER, isWaypointGateway, ownedBy, waypointObjectPath, waypointObjects, type WaypointOptions } from './kubernetes-waypoints.js';

/**
 * What these controllers do with the API beyond the config source's reads, for the ClusterRole
 * (deploy/kubernetes/istiod-rbac.yaml; deploy-manifests.test.ts checks the two are equal):
 * `group/resource verbs`. Server-side apply of an object that does not exist yet is authorized
 * as `create` as well as `patch`.
 */
export const CONTROLLER_PERMISSIONS: ReadonlyArray<{ group: string; resource: string; verbs: readonly string[] }> = [
  { group: '', resource: 'configmaps', verbs: ['get', 'list', 'watch', 'create', 'update'] },
  { group: '', resource: 'serviceaccounts', verbs: ['get', 'create', 'patch'] },
  { group: '', resource: 'services', verbs: ['get', 'create', 'patch'] },
  { group: 'apps', resource: 'deployments', verbs: ['get', 'create', 'patch'] },
];

const CONFIG_MAPS_PATH = '/api/v1/configmaps';
const CONFIG_MAP_SELECTOR = `metadata.name=${ROOT_CERT_CONFIG_MAP}`;
const DEFAULT_RESYNC_MS = 60_000;
const RETRY_MS = { first: 1_000, max: 30_000 };

/** What the controllers read from the config source. */
export interface ControllerSource {
  current(): MeshSnapshot;
  /** The Gateways the source parsed, as the API server sent them (uid included). */
  gatewayObjects(): KubernetesObject[];
  on(event: 'snapshot', listener: () => void): unknown;
  off(event: 'snapshot', listener: () => void): unknown;
}

export interface KubernetesControllersOptions {
  rootCertPem: string;
  waypoint: WaypointOptions;
  logger: Logger;
  debounceMs?: number;
  /** How often waypoint objects are applied again even if their plan did not change. */
  resyncMs?: number;
}

export class KubernetesControllers {
  readonly #config: KubeConfig;
  readonly #source: ControllerSource;
  readonly #options: KubernetesControllersOptions;
  readonly #configMaps: ListWatch<KubernetesObject>;
  /** The plan last applied per Gateway uid (JSON), so an unchanged Gateway writes nothing. */
  readonly #applied = new Map<string, string>();
  /** Objects of another owner said once, by path. */
  readonly #saidForeign = new Set<string>();
  readonly #onSnapshot = () => this.#schedule();
  #timer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MS.first;
  #listed = false;
  #running = false;
  #again = false;
  #closed = false;

  constructor(config: KubeConfig, source: ControllerSource, options: KubernetesControllersOptions) {
    this.#config = config;
    this.#source = source;
    this.#options = options;
    this.#configMaps = new ListWatch<KubernetesObject>(CONFIG_MAPS_PATH, new Watch(config), () => this.#listConfigMaps(), false, undefined, CONFIG_MAP_SELECTOR);
    for (const event of ['add', 'update', 'delete'] as const) this.#configMaps.on(event, () => this.#schedule());
    this.#configMaps.on('error', (err) => this.#watchFailed(err));
  }

  /** Starts watching and reconciling; the first pass runs once the ConfigMaps are listed. */
  start(): void {
    this.#source.on('snapshot', this.#onSnapshot);
    void this.#configMaps.start();
    this.#resyncTimer = setInterval(() => {
      this.#applied.clear();
      this.#schedule();
    }, this.#options.resyncMs ?? DEFAULT_RESYNC_MS);
    this.#resyncTimer.unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.off('snapshot', this.#onSnapshot);
    clearTimeout(this.#timer);
    clearTimeout(this.#retryTimer);
    clearInterval(this.#resyncTimer);
    void this.#configMaps.stop();
  }

  async #listConfigMaps(): Promise<KubernetesListObject<KubernetesObject>> {
    const response = await kubeApiRequest(this.#config, HttpMethod.GET, `${CONFIG_MAPS_PATH}?fieldSelector=${encodeURIComponent(CONFIG_MAP_SELECTOR)}`);
    if (!response.ok) {
      const answer = await response.text().catch(() => '');
      throw Object.assign(new Error(`listing ${CONFIG_MAPS_PATH}: ${response.status} ${answer.slice(0, 200)}`), { statusCode: response.status });
    }
    const list = (await response.json()) as KubernetesListObject<KubernetesObject>;
    this.#listed = true;
    this.#retryMs = RETRY_MS.first;
    this.#schedule();
    return { ...list, items: list.items.map((item) => ({ ...item, apiVersion: 'v1', kind: 'ConfigMap' })) };
  }

  #watchFailed(err: unknown): void {
    if (this.#closed) return;
    this.#options.logger.warn('ConfigMap list/watch failed; retrying', { error: err instanceof Error ? err.message : String(err), retryInMs: this.#retryMs });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void (this.#closed || this.#configMaps.start()), this.#retryMs);
    this.#retryTimer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MS.max);
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#reconcile(), this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  /** One pass of both controllers; a change during a pass runs another after it. */
  async #reconcile(): Promise<void> {
    if (this.#closed) return;
    if (this.#running) return void (this.#again = true);
    this.#running = true;
    try {
      if (this.#listed) await this.#reconcileConfigMaps();
      await this.#reconcileWaypoints();
    } catch (err) {
      this.#options.logger.warn('Kubernetes controllers: reconcile failed', { error: String(err) });
    } finally {
      this.#running = false;
      if (this.#again && !this.#closed) {
        this.#again = false;
        this.#schedule();
      }
    }
  }

  async #reconcileConfigMaps(): Promise<void> {
    const existing = new Map<string, KubernetesObject>();
    for (const object of this.#configMaps.list()) if (object.metadata?.namespace) existing.set(object.metadata.namespace, object);
    const writes = planRootCertConfigMaps(this.#source.current().namespaces.keys(), existing, this.#options.rootCertPem);
    for (const write of writes) {
      const path = `/api/v1/namespaces/${encodeURIComponent(write.namespace)}/configmaps`;
      const response =
        write.op === 'create'
          ? await kubeApiRequest(this.#config, HttpMethod.POST, `${path}?fieldManager=${encodeURIComponent(FIELD_MANAGER)}`, write.body)
          : await kubeApiRequest(this.#config, HttpMethod.PUT, `${path}/${ROOT_CERT_CONFIG_MAP}?fieldManager=${encodeURIComponent(FIELD_MANAGER)}`, write.body);
      const answer = await response.text().catch(() => '');
      // 409: created or edited meanwhile; 404/403 on create: the namespace is gone or terminating.
      // The watch brings what happened and the plan runs again.
      if (response.ok) this.#options.logger.info(`${write.op === 'create' ? 'created' : 'corrected'} ConfigMap ${write.namespace}/${ROOT_CERT_CONFIG_MAP}`);
      else if (response.status !== 409) this.#options.logger.warn(`could not ${write.op} ConfigMap ${write.namespace}/${ROOT_CERT_CONFIG_MAP}`, { status: response.status, answer: answer.slice(0, 300) });
    }
  }

  async #reconcileWaypoints(): Promise<void> {
    const gateways = this.#source.gatewayObjects().filter(isWaypointGateway);
    const uids = new Set(gateways.map((g) => String(g.metadata?.['uid'])));
    for (const uid of this.#applied.keys()) if (!uids.has(uid)) this.#applied.delete(uid);
    for (const gateway of gateways) {
      const uid = String(gateway.metadata?.['uid']);
      const objects = waypointObjects(gateway, this.#options.waypoint);
      const plan = JSON.stringify(objects);
      if (this.#applied.get(uid) === plan) continue;
      let done = true;
      for (const object of objects) done = (await this.#applyOwned(gateway, object)) && done;
      if (done) this.#applied.set(uid, plan);
    }
  }

  /** Server-side applies one object unless another owns it; true when it is as planned. */
  async #applyOwned(gateway: KubernetesObject, object: KubernetesObject): Promise<boolean> {
    const path = waypointObjectPath(object);
    const name = `${object.kind} ${object.metadata?.namespace}/${object.metadata?.name}`;
    const current = await kubeApiRequest(this.#config, HttpMethod.GET, path);
    if (current.ok) {
      if (!ownedBy((await current.json()) as KubernetesObject, gateway)) {
        if (!this.#saidForeign.has(path)) this.#options.logger.warn(`${name} exists without the Gateway's owner reference: left alone (delete it to have istiod-lite make the waypoint's)`);
        this.#saidForeign.add(path);
        return true;
      }
    } else if (current.status === 404) {
      await current.body?.cancel();
    } else {
      this.#options.logger.warn(`could not read ${name}`, { status: current.status, answer: (await current.text().catch(() => '')).slice(0, 300) });
      return false;
    }
    this.#saidForeign.delete(path);
    const response = await kubeApiRequest(this.#config, HttpMethod.PATCH, `${path}?fieldManager=${encodeURIComponent(FIELD_MANAGER)}&force=true`, object, 'application/apply-patch+yaml');
    const answer = await response.text().catch(() => '');
    if (!response.ok) {
      this.#options.logger.warn(`could not apply ${name}`, { status: response.status, answer: answer.slice(0, 300) });
      return false;
    }
    this.#options.logger.info(`applied ${name}`, { gateway: gateway.metadata?.name });
    return true;
  }
}
