/**
 * What becomes of an HTTPRoute in this mesh, as Gateway API route status says it: per parentRef
 * an `Accepted` condition (does a waypoint apply the route through this parent, and to whom) and a
 * `ResolvedRefs` condition (does every backendRef resolve to a Service port this route may use).
 * Pure, from the snapshot alone, so istiod-lite (generation, debug API) and meshctl (analysis)
 * read the same verdicts.
 *
 * The rules, in the Gateway API's mesh binding (GAMMA) terms:
 * - A parentRef must name a Service (group "") that exists, has the port or port name the
 *   parentRef asks for, and sends its traffic through a waypoint (`istio.io/use-waypoint`).
 *   Gateway parents are not supported here (a waypoint applies routes bound to its Services).
 * - A route in the Service's own namespace is a producer route and applies to every caller; a
 *   route in another namespace is a consumer route and applies only to callers in that namespace.
 * - A backendRef (or a RequestMirror's backendRef) must be a core Service with the given port. In
 *   another namespace it also needs a ReferenceGrant there that lets HTTPRoutes of the route's
 *   namespace refer to it: the waypoint calls backends with its own identity, so without the
 *   grant a route could reach into any namespace uninvited. The one exception is the route's own
 *   parent Service, which its callers reach anyway.
 */
import type { GrantSubject, MeshSnapshot } from './snapshot.js';
import type { BackendObjectRef, HttpRoute, ParentRef, Service, ServicePort } from './types.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

export type RouteConditionType = 'Accepted' | 'ResolvedRefs';

export interface RouteCondition {
  readonly type: RouteConditionType;
  readonly status: 'True' | 'False';
  /** Gateway API reason: Accepted, NoMatchingParent, UnsupportedValue, ResolvedRefs, RefNotPermitted, InvalidKind, BackendNotFound. */
  readonly reason: string;
  readonly message: string;
}

export interface RouteParentStatus {
  readonly parentRef: ParentRef;
  /** Present when the route is a consumer route: only callers in this namespace get it. */
  readonly consumerNamespace?: string;
  readonly conditions: readonly [RouteCondition, RouteCondition];
}

/** One reference that did not resolve, located in the route (`spec.rules[0].backendRefs[1]`). */
export interface RouteRefProblem {
  readonly path: string;
  readonly reason: BackendProblemReason;
  readonly message: string;
}

export interface HttpRouteStatus {
  readonly namespace: string;
  readonly name: string;
  readonly parents: readonly RouteParentStatus[];
  readonly refProblems: readonly RouteRefProblem[];
}

export type BackendProblemReason = 'RefNotPermitted' | 'InvalidKind' | 'BackendNotFound';

export type BackendResolution =
  | { readonly ok: true; readonly service: Service; readonly port: ServicePort }
  | { readonly ok: false; readonly reason: BackendProblemReason; readonly message: string };

/** Services that routes attach to on one port, split by whom they apply to. */
export interface AttachedRoutes {
  /** Routes in the Service's namespace: every caller. */
  readonly producer: readonly HttpRoute[];
  /** Consumer namespace → its routes: only callers in that namespace (they replace the producer routes for them). */
  readonly consumers: ReadonlyMap<string, readonly HttpRoute[]>;
}

const isCoreGroup = (group: string) => group === '' || group === 'core';

function routeSubject(route: HttpRoute): GrantSubject {
  return { group: GATEWAY_API_GROUP, kind: 'HTTPRoute', namespace: route.namespace };
}

/** The Services a route names as parents (whatever their status), for the parent exception. */
function parentServiceKeys(route: HttpRoute): Set<string> {
  return new Set(route.parentRefs.filter((p) => p.kind === 'Service').map((p) => `${p.namespace ?? route.namespace}/${p.name}`));
}

/** Resolves a backendRef of `route` to a Service port, or says why it does not resolve. */
export function resolveBackendRef(snapshot: MeshSnapshot, route: HttpRoute, ref: BackendObjectRef): BackendResolution {
  if (!isCoreGroup(ref.group) || ref.kind !== 'Service') {
    return { ok: false, reason: 'InvalidKind', message: `${ref.group || 'core'}/${ref.kind} is not a backend kind this mesh supports (only a core Service)` };
  }
  const namespace = ref.namespace ?? route.namespace;
  const key = `${namespace}/${ref.name}`;
  if (namespace !== route.namespace && !parentServiceKeys(route).has(key)) {
    const granted = snapshot.referenceGranted(routeSubject(route), { group: '', kind: 'Service', namespace, name: ref.name });
    if (!granted) {
      return {
        ok: false,
        reason: 'RefNotPermitted',
        message: `Service ${key} is in another namespace and no ReferenceGrant in namespace ${namespace} lets HTTPRoutes from namespace ${route.namespace} refer to it`,
      };
    }
  }
  const service = snapshot.services.get(key);
  if (!service) return { ok: false, reason: 'BackendNotFound', message: `Service ${key} not found` };
  const port = service.ports.find((p) => p.port === ref.port);
  if (!port) return { ok: false, reason: 'BackendNotFound', message: `Service ${key} has no port ${ref.port} (it has ${service.ports.map((p) => p.port).join(', ') || 'none'})` };
  return { ok: true, service, port };
}

/** Every backendRef and mirror backendRef of the route that does not resolve, in rule order. */
function refProblems(snapshot: MeshSnapshot, route: HttpRoute): RouteRefProblem[] {
  const out: RouteRefProblem[] = [];
  route.rules.forEach((rule, r) => {
    const check = (ref: BackendObjectRef, path: string) => {
      const resolved = resolveBackendRef(snapshot, route, ref);
      if (!resolved.ok) out.push({ path, reason: resolved.reason, message: resolved.message });
    };
    rule.backendRefs.forEach((ref, b) => check(ref, `spec.rules[${r}].backendRefs[${b}]`));
    rule.filters.forEach((f, i) => f.requestMirror && check(f.requestMirror.backendRef, `spec.rules[${r}].filters[${i}].requestMirror.backendRef`));
  });
  return out;
}

/** The parent Service and the ports a parentRef binds to, or why it binds to nothing. */
function bindParent(snapshot: MeshSnapshot, route: HttpRoute, ref: ParentRef): { service: Service; ports: readonly ServicePort[] } | { reason: string; message: string } {
  const key = `${ref.namespace ?? route.namespace}/${ref.name}`;
  if (ref.kind !== 'Service') {
    return { reason: 'UnsupportedValue', message: `a ${ref.kind} parent is not supported by this mesh: bind the route to a Service (its waypoint applies it)` };
  }
  if (!isCoreGroup(ref.group)) return { reason: 'NoMatchingParent', message: `a Service parentRef needs group "" (got "${ref.group}")` };
  const service = snapshot.services.get(key);
  if (!service) return { reason: 'NoMatchingParent', message: `Service ${key} not found` };
  if (!snapshot.waypointFor(service)) {
    return { reason: 'NoMatchingParent', message: `Service ${key} does not use a waypoint (label istio.io/use-waypoint on the Service or its namespace), so nothing applies this route` };
  }
  let ports = service.ports;
  if (ref.port !== undefined) ports = ports.filter((p) => p.port === ref.port);
  if (ref.sectionName !== undefined) ports = ports.filter((p) => p.name === ref.sectionName);
  if (ports.length === 0) {
    const wanted = [ref.port !== undefined ? `port ${ref.port}` : '', ref.sectionName !== undefined ? `port name "${ref.sectionName}"` : ''].filter(Boolean).join(' and ');
    return { reason: 'NoMatchingParent', message: `Service ${key} has no ${wanted}` };
  }
  return { service, ports };
}

function condition(type: RouteConditionType, ok: boolean, reason: string, message: string): RouteCondition {
  return { type, status: ok ? 'True' : 'False', reason, message };
}

/** The route's status as Gateway API would report it, one entry per parentRef. */
export function httpRouteStatus(snapshot: MeshSnapshot, route: HttpRoute): HttpRouteStatus {
  const problems = refProblems(snapshot, route);
  const resolved =
    problems.length === 0
      ? condition('ResolvedRefs', true, 'ResolvedRefs', 'every backendRef resolves')
      : condition('ResolvedRefs', false, (problems[0] as RouteRefProblem).reason, problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  const parents = route.parentRefs.map((parentRef): RouteParentStatus => {
    const bound = bindParent(snapshot, route, parentRef);
    if ('reason' in bound) return { parentRef, conditions: [condition('Accepted', false, bound.reason, bound.message), resolved] };
    const { service, ports } = bound;
    const on = ports.length === service.ports.length ? 'every port' : `port ${ports.map((p) => p.port).join(', ')}`;
    const key = `${service.namespace}/${service.name}`;
    if (route.namespace === service.namespace) {
      return { parentRef, conditions: [condition('Accepted', true, 'Accepted', `a producer route: applies to every caller of Service ${key} on ${on}`), resolved] };
    }
    return {
      parentRef,
      consumerNamespace: route.namespace,
      conditions: [condition('Accepted', true, 'Accepted', `a consumer route: applies only to callers in namespace ${route.namespace} of Service ${key} on ${on}`), resolved],
    };
  });
  return { namespace: route.namespace, name: route.name, parents, refProblems: problems };
}

/** The accepted routes bound to one port of a Service, producer and consumer ones apart. */
export function attachedHttpRoutes(snapshot: MeshSnapshot, service: Service, port: ServicePort): AttachedRoutes {
  const producer: HttpRoute[] = [];
  const consumers = new Map<string, HttpRoute[]>();
  for (const route of snapshot.routesFor(service)) {
    const binds = route.parentRefs.some((ref) => {
      if (ref.kind !== 'Service' || ref.name !== service.name || (ref.namespace ?? route.namespace) !== service.namespace) return false;
      const bound = bindParent(snapshot, route, ref);
      return !('reason' in bound) && bound.service === service && bound.ports.includes(port);
    });
    if (!binds) continue;
    if (route.namespace === service.namespace) producer.push(route);
    else consumers.set(route.namespace, [...(consumers.get(route.namespace) ?? []), route]);
  }
  return { producer, consumers: new Map([...consumers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
}
