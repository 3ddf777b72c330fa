/**
 * A ConfigSource over the Kubernetes API: one informer (list, then watch from that
 * resourceVersion) per resource of WATCHED_RESOURCES, cluster-wide, through @kubernetes/client-node.
 *
 * Invariants:
 * - `open` resolves once every resource has been listed, so the first snapshot is the cluster's
 *   whole state (never a mesh without its policies). A resource the API server does not serve
 *   (its CRD is not installed: 404) counts as listed and empty, is said once, and is tried again.
 * - Objects are validated by mesh-model exactly as manifests are (kubernetes-objects.ts): a bad
 *   object is logged, listed in `problems()` naming kind/namespace/name and field, and recorded as
 *   a Warning Event on the object (once per version); its last good version stays in force, the
 *   other objects are unaffected.
 * - A watch that ends is resumed from the last resourceVersion seen; `410 Gone` (the version was
 *   compacted away) relists, and objects missing from the new list are deleted. A watch or list
 *   that fails (the API server restarts, a permission is missing) is logged and retried with
 *   backoff (1 s doubling to 30 s); the snapshot in force stays meanwhile.
 * - Changes are debounced (DEFAULT_DEBOUNCE_MS, like the directory source); a snapshot is emitted
 *   only when what the mesh uses changed (status churn such as probe times makes none).
 * - Status is written back as Istio does (kubernetes-status.ts): an HTTPRoute's `status.parents`
 *   a waypoint Gateway's `Accepted`/`Programmed` and an AuthorizationPolicy's `WaypointAccepted`
 *   (when it has targetRefs) or `ZtunnelAccepted` (when not), through the `status` subresource,
 *   only when it differs from what the object says (our own write coming back writes nothing),
 *   with the object's resourceVersion (a `409 Conflict` rereads the object and tries again). Objects the
 *   mesh cannot use get no status (their Event says why).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { KubeConfig, ListWatch, RequestContext, HttpMethod, Watch } from '@kubernetes/client-node';
import type { KubernetesListObject } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { MeshError } from '@mesh/errors';
import { buildSnapshot, WAYPOINT_GATEWAY_CLASS } from '@mesh/mesh-model';
import type { ManifestError, MeshSnapshot } from '@mesh/mesh-model';
import type { Logger } from '../log.js';
import { formatManifestError } from './config-source.js';
import type { ConfigSource } from './config-source.js';
import { DEFAULT_DEBOUNCE_MS } from './directory-config-source.js';
import { EndpointSliceStore, KubernetesObjectStore, WATCHED_RESOURCES, objectKey, objectName, resourcePath } from './kubernetes-objects.js';
import type { KubernetesObject, WatchedResource } from './kubernetes-objects.js';
import { authorizationPolicyStatusUpdate, gatewayStatusUpdate, httpRouteStatusUpdate } from './kubernetes-status.js';

export interface KubernetesConfigSourceOptions {
  trustDomain: string;
  logger: Logger;
  debounceMs?: number;
  /** Retry delays after a failed list or watch (tests shorten them). */
  retryMs?: { first: number; max: number };
  /** Gives up waiting for the first list (it waits as long as the API server refuses or is away). */
  signal?: AbortSignal;
  /**
   * Runs after a status patch is computed from `object` and before it is sent (`attempt` counts
   * from 1). For tests: another writer's write made here makes the patch's resourceVersion stale,
   * the `409 Conflict` race on demand.
   */
  beforeStatusPatch?: (object: KubernetesObject, attempt: number) => Promise<void> | void;
}

/** Where the API server and credentials come from: a kubeconfig file (and context), else in-cluster. */
export interface KubernetesConnection {
  kubeconfig?: string;
  context?: string;
}

const DEFAULT_RETRY_MS = { first: 1_000, max: 30_000 };
/** `reportingController` of the Events recorded on objects the mesh cannot use. */
export const EVENT_REPORTER = 'istio.io/istiod-lite';
const MAX_REMEMBERED_EVENTS = 10_000;
/** Tries of one status write that meets `409 Conflict` (someone else wrote the object meanwhile). */
const STATUS_WRITE_TRIES = 5;
/** Kinds istiod-lite writes the status of. */
const STATUS_WRITTEN = new Set(['HTTPRoute', 'Gateway', 'AuthorizationPolicy']);

/** An object whose status istiod-lite writes, as the API server last sent it. */
interface StatusTarget {
  resource: WatchedResource;
  object: KubernetesObject;
}

/** Loads a kubeconfig (`--kubeconfig`, `--context`) or, with neither, the pod's in-cluster config. */
export function loadKubeConfig(connection: KubernetesConnection): KubeConfig {
  const config = new KubeConfig();
  try {
    if (connection.kubeconfig) config.loadFromFile(connection.kubeconfig);
    else if (connection.context) config.loadFromDefault();
    else config.loadFromCluster();
    if (connection.context) config.setCurrentContext(connection.context);
  } catch (cause) {
    throw new MeshError('ISTIOD_ERR_KUBECONFIG', `cannot load the Kubernetes client configuration: ${String(cause)}`, {
      cause,
      hint: 'pass --kubeconfig <file> (and --context <name>), or run in a pod with a service account',
    });
  }
  const cluster = config.getCurrentCluster();
  if (!cluster?.server || cluster.server.includes('undefined')) {
    throw new MeshError('ISTIOD_ERR_KUBECONFIG', connection.kubeconfig || connection.context ? `the kubeconfig names no API server for context ${config.getCurrentContext() || '(none)'}` : 'not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)', {
      hint: 'pass --kubeconfig <file> (and --context <name>)',
    });
  }
  return config;
}

/** One request to the API server with the kubeconfig's credentials (raw JSON); the CA's TokenReviews use it too. */
export async function kubeApiRequest(config: KubeConfig, method: HttpMethod, path: string, body?: unknown, contentType = 'application/json'): ReturnType<typeof fetch> {
  const context = new RequestContext(`${config.getCurrentCluster()?.server ?? ''}${path}`, method);
  await config.applySecurityAuthentication(context);
  const headers = context.getHeaders();
  if (body !== undefined) headers['content-type'] = contentType;
  return fetch(context.getUrl(), { method, headers, dispatcher: context.getDispatcher() as never, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

/** An HTTP error from the API server, with its status (what ListWatch looks at for 410). */
class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Informer {
  readonly resource: WatchedResource;
  readonly watch: ListWatch<KubernetesObject>;
  retryMs: number;
  timer: NodeJS.Timeout | undefined;
  /** Said once that the API server does not serve it, until it does. */
  saidUnserved: boolean;
}

export class KubernetesConfigSource extends EventEmitter implements ConfigSource {
  readonly #config: KubeConfig;
  readonly #options: KubernetesConfigSourceOptions;
  readonly #store = new KubernetesObjectStore();
  readonly #slices = new EndpointSliceStore();
  readonly #informers: Informer[] = [];
  #snapshot: MeshSnapshot;
  #generation = 1;
  #timer: NodeJS.Timeout | undefined;
  #opened = false;
  #closed = false;
  /** Object versions an Event was recorded for (bounded). */
  readonly #eventsRecorded = new Set<string>();
  #eventsRefused = false;
  /** HTTPRoutes, Gateways and AuthorizationPolicies the mesh could parse, by `Kind/namespace/name`: their status is written. */
  readonly #statusTargets = new Map<string, StatusTarget>();
  /** Status writes in flight, by target key; a key here again once done is written again. */
  readonly #statusWriting = new Set<string>();
  readonly #statusAgain = new Set<string>();
  #statusTimer: NodeJS.Timeout | undefined;
  /** Kinds whose status writes were refused (403): said once, not tried again. */
  readonly #statusRefused = new Set<string>();

  private constructor(config: KubeConfig, options: KubernetesConfigSourceOptions) {
    super();
    this.#config = config;
    this.#options = options;
    this.#snapshot = buildSnapshot([], { trustDomain: options.trustDomain });
  }

  /** Lists every watched resource, builds the first snapshot and keeps watching. */
  static async open(config: KubeConfig, options: KubernetesConfigSourceOptions): Promise<KubernetesConfigSource> {
    const source = new KubernetesConfigSource(config, options);
    const aborted = new Promise<never>((_, reject) => {
      const abort = () => reject(new MeshError('ISTIOD_ERR_CONFIG_SOURCE', 'stopped before the Kubernetes API was listed', { cause: options.signal?.reason }));
      if (options.signal?.aborted) abort();
      options.signal?.addEventListener('abort', abort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      await Promise.race([Promise.all(WATCHED_RESOURCES.map((resource) => source.#startInformer(resource))), aborted]);
    } catch (err) {
      source.close();
      throw err;
    }
    source.#opened = true;
    source.#snapshot = source.#build();
    options.logger.info('listed the Kubernetes API', { server: config.getCurrentCluster()?.server, resources: source.#store.resources().length, problems: source.#store.problems().length });
    source.#syncStatus();
    return source;
  }

  current(): MeshSnapshot {
    return this.#snapshot;
  }

  generation(): number {
    return this.#generation;
  }

  problems(): readonly ManifestError[] {
    return this.#store.problems();
  }

  /** The Gateways the mesh could parse, as the API server last sent them (uid included): kubernetes-controllers.ts makes waypoint pods from them. */
  gatewayObjects(): KubernetesObject[] {
    return [...this.#statusTargets.values()].filter((t) => t.resource.kind === 'Gateway').map((t) => t.object);
  }

  /** Applies what the informers have now instead of waiting for the debounce (tests, SIGHUP). */
  async reload(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#rebuild();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#statusTimer);
    for (const informer of this.#informers) {
      clearTimeout(informer.timer);
      void informer.watch.stop();
    }
  }

  /** Starts one informer; resolves once its first list succeeded (failures retry meanwhile). */
  #startInformer(resource: WatchedResource): Promise<void> {
    const path = resourcePath(resource);
    let listed: () => void = () => undefined;
    const firstList = new Promise<void>((resolve) => (listed = resolve));
    const informer: Informer = {
      resource,
      watch: new ListWatch<KubernetesObject>(path, new Watch(this.#config), async () => {
        const list = await this.#list(informer);
        listed();
        return list;
      }, false),
      retryMs: this.#retry().first,
      timer: undefined,
      saidUnserved: false,
    };
    this.#informers.push(informer);
    const watch = informer.watch;
    // Something arrived: the API server answers again, so the next failure starts the backoff anew.
    const answered = () => (informer.retryMs = this.#retry().first);
    watch.on('add', (object) => {
      answered();
      this.#applied(resource, object);
    });
    watch.on('update', (object) => {
      answered();
      this.#applied(resource, object);
    });
    watch.on('delete', (object) => {
      answered();
      this.#options.logger.info('Kubernetes object deleted', { object: objectName(resource.kind, object) });
      this.#statusTargets.delete(objectKey(resource, object));
      if (resource.kind === 'EndpointSlice' ? this.#slices.remove(object) : this.#store.remove(resource, object)) this.#changed();
    });
    watch.on('error', (err) => this.#failed(informer, err));
    void watch.start();
    return firstList;
  }

  #retry(): { first: number; max: number } {
    return this.#options.retryMs ?? DEFAULT_RETRY_MS;
  }

  /**
   * Lists a resource as raw JSON (the API server's own field names and values; ListWatch watches
   * the same way). A resource the API server does not serve lists as empty and is watched again.
   */
  async #list(informer: Informer): Promise<KubernetesListObject<KubernetesObject>> {
    const { resource } = informer;
    const response = await this.#request(HttpMethod.GET, resourcePath(resource));
    if (response.status === 404) {
      await response.body?.cancel();
      if (!informer.saidUnserved) {
        informer.saidUnserved = true;
        this.#options.logger.warn(`the API server does not serve ${resource.apiVersion} ${resource.plural} (is its CRD installed?); none are in force until it does`, { resource: resourcePath(resource) });
      }
      // Listed as empty: the watch that follows fails the same way and is retried with backoff.
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [] };
    }
    if (response.status !== 200) {
      const body = await response.text().catch(() => '');
      const message = (JSON.parse(body || '{}') as { message?: string }).message ?? body.slice(0, 200);
      throw new ApiError(response.status, `listing ${resourcePath(resource)}: ${response.status} ${message}`);
    }
    if (informer.saidUnserved) this.#options.logger.info(`the API server serves ${resource.apiVersion} ${resource.plural} now`);
    informer.saidUnserved = false;
    informer.retryMs = this.#retry().first;
    const list = (await response.json()) as KubernetesListObject<KubernetesObject>;
    return { ...list, items: list.items.map((item) => ({ ...item, apiVersion: resource.apiVersion, kind: resource.kind })) };
  }

  /** One request to the API server with the kubeconfig's credentials (raw JSON, as ListWatch's watches). */
  #request(method: HttpMethod, path: string, body?: unknown, contentType = 'application/json'): ReturnType<typeof fetch> {
    return kubeApiRequest(this.#config, method, path, body, contentType);
  }

  /**
   * A Warning Event on an object the mesh cannot use, once per version of it, so `kubectl describe`
   * and `kubectl events` show the problem beside the object. Best effort: without permission to
   * create Events it says so once and records none.
   */
  #recordEvent(resource: WatchedResource, object: KubernetesObject, errors: readonly ManifestError[]): void {
    const version = `${objectName(resource.kind, object)}@${String(object.metadata?.['resourceVersion'] ?? '')}`;
    if (this.#eventsRefused || this.#eventsRecorded.has(version)) return;
    this.#eventsRecorded.add(version);
    if (this.#eventsRecorded.size > MAX_REMEMBERED_EVENTS) this.#eventsRecorded.delete(this.#eventsRecorded.values().next().value as string);
    const { name = '', namespace } = object.metadata ?? {};
    const eventNamespace = namespace ?? 'default';
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // Named as the API server's own recorders name Events: the object's name and a random suffix.
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace: eventNamespace },
      // MicroTime: RFC 3339 with six fractional digits.
      eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: EVENT_REPORTER,
      reportingInstance: hostname().slice(0, 128),
      action: 'Validate',
      reason: 'InvalidConfiguration',
      type: 'Warning',
      note: `the mesh cannot use this ${resource.kind}${errors.length > 0 ? ` (its last good version, if any, stays in force): ${errors.map((e) => `${e.path ? `${e.path}: ` : ''}${e.message}`).join('; ')}` : ''}`.slice(0, 1000),
      regarding: { apiVersion: resource.apiVersion, kind: resource.kind, name, ...(namespace ? { namespace } : {}), uid: object.metadata?.['uid'], resourceVersion: object.metadata?.['resourceVersion'] },
    };
    void this.#request(HttpMethod.POST, `/apis/events.k8s.io/v1/namespaces/${eventNamespace}/events`, event)
      .then(async (response) => {
        const answer = response.ok ? (await response.body?.cancel(), '') : await response.text().catch(() => '');
        if (response.status === 403) {
          this.#eventsRefused = true;
          this.#options.logger.warn('may not create Events (RBAC: create events.k8s.io events); problems are only logged and listed at /debug/config_problems');
        } else if (!response.ok) {
          this.#options.logger.warn('could not record an Event', { object: objectName(resource.kind, object), status: response.status, answer: answer.slice(0, 500) });
        }
      })
      .catch((err: unknown) => this.#options.logger.warn('could not record an Event', { object: objectName(resource.kind, object), error: String(err) }));
  }

  /** A list or watch failed: ListWatch stopped; start it again after the backoff (it resumes from its resourceVersion). */
  #failed(informer: Informer, err: unknown): void {
    if (this.#closed) return;
    const status = (err as { statusCode?: number } | undefined)?.statusCode;
    if (!(status === 404 && informer.saidUnserved)) {
      this.#options.logger.warn('Kubernetes list/watch failed; retrying', {
        resource: resourcePath(informer.resource),
        ...(status !== undefined ? { status } : {}),
        error: err instanceof Error ? err.message : String(err),
        retryInMs: informer.retryMs,
      });
    }
    clearTimeout(informer.timer);
    informer.timer = setTimeout(() => {
      informer.timer = undefined;
      if (!this.#closed) void informer.watch.start();
    }, informer.retryMs);
    informer.timer.unref();
    informer.retryMs = Math.min(informer.retryMs * 2, this.#retry().max);
  }

  #applied(resource: WatchedResource, object: KubernetesObject): void {
    if (resource.kind === 'EndpointSlice') {
      if (this.#slices.apply(object)) this.#changed();
      return;
    }
    const { changed, errors, keptLastGood } = this.#store.apply(resource, object);
    for (const error of errors) {
      this.#options.logger.warn(`invalid Kubernetes object: ${formatManifestError(error)}`, {
        kind: resource.kind,
        ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
        name: object.metadata?.name,
        path: error.path,
        error: error.message,
        keptLastGood,
      });
    }
    if (errors.length > 0) this.#recordEvent(resource, object, errors);
    if (STATUS_WRITTEN.has(resource.kind)) {
      const key = objectKey(resource, object);
      if (errors.length === 0) this.#statusTargets.set(key, { resource, object });
      else this.#statusTargets.delete(key);
      if (!changed) this.#statusChanged();
    }
    if (changed) this.#changed();
  }

  /** A route or Gateway changed without changing the mesh (its status, say): check its status soon. */
  #statusChanged(): void {
    if (!this.#opened || this.#closed) return;
    this.#statusTimer = this.#debounced(this.#statusTimer, () => {
      this.#statusTimer = undefined;
      this.#syncStatus();
    });
  }

  /** `run` after the debounce, replacing `pending` (the timer of the same purpose). */
  #debounced(pending: NodeJS.Timeout | undefined, run: () => void): NodeJS.Timeout {
    clearTimeout(pending);
    return setTimeout(run, this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  /** Writes the status of every target whose status differs from what the snapshot in force says. */
  #syncStatus(): void {
    if (this.#closed) return;
    for (const key of this.#statusTargets.keys()) void this.#writeStatus(key);
  }

  /** The status patch a target needs now, or undefined (nothing to say, or already said). */
  #statusPatch(target: StatusTarget): Record<string, unknown> | undefined {
    const { resource, object } = target;
    const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
    const generation = Number(object.metadata?.['generation'] ?? 0);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (resource.kind === 'HTTPRoute') {
      const route = this.#snapshot.httpRoutes.get(key);
      return route && httpRouteStatusUpdate(this.#snapshot, route, generation, object.status, now);
    }
    if (resource.kind === 'AuthorizationPolicy') {
      const policy = this.#snapshot.authorizationPolicies.get(key);
      return policy && authorizationPolicyStatusUpdate(this.#snapshot, policy, generation, object.status, now);
    }
    const gateway = this.#snapshot.gateways.get(key);
    if (gateway?.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) return undefined; // another controller's Gateway
    return gatewayStatusUpdate(this.#snapshot, gateway, generation, object.status, now);
  }

  /**
   * One target's status through the `status` subresource: a JSON merge patch carrying the
   * resourceVersion it was computed from, so a concurrent write fails with 409 instead of being
   * overwritten; then the object is read again and the status computed again.
   */
  async #writeStatus(key: string): Promise<void> {
    if (this.#statusWriting.has(key)) {
      this.#statusAgain.add(key);
      return;
    }
    this.#statusWriting.add(key);
    try {
      for (let attempt = 1; attempt <= STATUS_WRITE_TRIES && !this.#closed; attempt++) {
        const target = this.#statusTargets.get(key);
        const patch = target && !this.#statusRefused.has(target.resource.kind) ? this.#statusPatch(target) : undefined;
        if (!target || !patch) return;
        const { resource, object } = target;
        await this.#options.beforeStatusPatch?.(object, attempt);
        const path = `${statusPath(resource, object)}/status`;
        const response = await this.#request(HttpMethod.PATCH, path, { metadata: { resourceVersion: object.metadata?.['resourceVersion'] }, status: patch }, 'application/merge-patch+json');
        if (response.ok) {
          const written = (await response.json()) as KubernetesObject;
          // Newer than what the watch has sent so far: the next check compares against it.
          if (this.#statusTargets.get(key) === target) this.#statusTargets.set(key, { resource, object: { ...written, apiVersion: resource.apiVersion, kind: resource.kind } });
          this.#options.logger.info('wrote status', { object: objectName(resource.kind, object) });
          return;
        }
        const answer = await response.text().catch(() => '');
        if (response.status === 409) {
          // Someone else wrote it since: read it again (unless the watch brought a newer one) and recompute.
          const reread = await this.#request(HttpMethod.GET, statusPath(resource, object));
          if (reread.status === 404) return void (await reread.body?.cancel());
          if (reread.ok && this.#statusTargets.get(key) === target) this.#statusTargets.set(key, { resource, object: { ...((await reread.json()) as KubernetesObject), apiVersion: resource.apiVersion, kind: resource.kind } });
          else await reread.body?.cancel();
          continue;
        }
        if (response.status === 404) return; // deleted meanwhile; the watch says so
        if (response.status === 403) {
          this.#statusRefused.add(resource.kind);
          this.#options.logger.warn(`may not write status (RBAC: patch ${resource.plural}/status in ${resource.apiVersion.split('/')[0]}); status conditions are not written`, { answer: answer.slice(0, 300) });
          return;
        }
        this.#options.logger.warn('could not write status', { object: objectName(resource.kind, object), status: response.status, answer: answer.slice(0, 500) });
        return;
      }
    } catch (err) {
      this.#options.logger.warn('could not write status', { key, error: String(err) });
    } finally {
      this.#statusWriting.delete(key);
      if (this.#statusAgain.delete(key)) void this.#writeStatus(key);
    }
  }

  #changed(): void {
    if (!this.#opened || this.#closed) return; // the first snapshot is built once everything is listed
    this.#timer = this.#debounced(this.#timer, () => {
      this.#timer = undefined;
      this.#rebuild();
    });
  }

  /** The snapshot of what is in force: the objects, and the endpoints of Services that have EndpointSlices. */
  #build(): MeshSnapshot {
    return buildSnapshot(this.#store.resources(), { trustDomain: this.#options.trustDomain, endpointSlices: this.#slices.byService() });
  }

  #rebuild(): void {
    if (this.#closed) return;
    const resources = this.#store.resources();
    const next = this.#build();
    this.#snapshot = next;
    this.#generation += 1;
    this.#options.logger.info('config snapshot updated', { generation: this.#generation, resources: resources.length });
    this.emit('snapshot', next);
    this.#syncStatus();
  }
}

/** The path of one namespaced object: `/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>`. */
function statusPath(resource: WatchedResource, object: KubernetesObject): string {
  const { namespace = 'default', name = '' } = object.metadata ?? {};
  return `${resourcePath(resource).replace(/\/[^/]+$/, '')}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}/${encodeURIComponent(name)}`;
}
