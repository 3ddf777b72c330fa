/**
 * The status istiod-lite writes back to Kubernetes objects, as Istio does: an HTTPRoute's
 * `status.parents[]` (`Accepted` and `ResolvedRefs` per parentRef, computed by mesh-model's
 * route-status.ts), a waypoint Gateway's `Accepted` and `Programmed` conditions, and an
 * AuthorizationPolicy's `WaypointAccepted` when it has targetRefs, `ZtunnelAccepted` when it has
 * none. Pure: from the snapshot and the object as the API server last sent it to the status to
 * write, or `undefined` when what is there already says it (so our own write, coming back through
 * the watch, writes nothing: no write loops).
 *
 * Invariants:
 * - Route parent entries of other controllers are kept as they are; ours are those whose
 *   `controllerName` is ROUTE_STATUS_CONTROLLER (Istio's `createRouteStatus` does the same).
 * - A Gateway's conditions other than Accepted and Programmed, and its `addresses` and
 *   `listeners`, are left alone (merge patch of `status.conditions` only).
 * - `lastTransitionTime` changes only when a condition's status changes; `observedGeneration` is
 *   the object's `metadata.generation` (Gateway API's metav1.Condition).
 */
import { WAYPOINT_GATEWAY_CLASS, httpRouteStatus, unevaluableAttributes } from '@mesh/mesh-model';
import type { AuthorizationPolicy, Gateway, HttpRoute, MeshSnapshot, ParentRef, PolicyTargetRef } from '@mesh/mesh-model';

/**
 * `controllerName` of the route parent entries istiod-lite writes: what Istio writes for every
 * route parent (`features.ManagedGatewayController`, istio/istio pilot/pkg/config/kube/gateway
 * `createRouteStatus`), Service (mesh) parents included.
 */
export const ROUTE_STATUS_CONTROLLER = 'istio.io/gateway-controller';

/** metav1.Condition as the API server stores it. */
export interface ApiCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

interface ApiParentStatus {
  parentRef: Record<string, unknown>;
  controllerName: string;
  conditions: ApiCondition[];
}

/** Gateway API limits a condition message to 32768 characters. */
const MAX_MESSAGE = 32_768;

/** The parentRef as the API spells it (group "" for core, optional fields only when set). */
function apiParentRef(ref: ParentRef): Record<string, unknown> {
  return {
    group: ref.group,
    kind: ref.kind,
    ...(ref.namespace !== undefined ? { namespace: ref.namespace } : {}),
    name: ref.name,
    ...(ref.sectionName !== undefined ? { sectionName: ref.sectionName } : {}),
    ...(ref.port !== undefined ? { port: ref.port } : {}),
  };
}

/** Conditions with their previous lastTransitionTime kept when their status did not change. */
function withTransitions(wanted: Array<Omit<ApiCondition, 'lastTransitionTime'>>, previous: readonly ApiCondition[], now: string): ApiCondition[] {
  return wanted.map((condition) => {
    const before = previous.find((p) => p.type === condition.type);
    return { ...condition, message: condition.message.slice(0, MAX_MESSAGE), lastTransitionTime: before && before.status === condition.status ? before.lastTransitionTime : now };
  });
}

const sameConditions = (a: readonly ApiCondition[], b: readonly ApiCondition[]) =>
  a.length === b.length &&
  a.every((c, i) => {
    const d = b[i];
    return d !== undefined && c.type === d.type && c.status === d.status && c.reason === d.reason && c.message === d.message && c.observedGeneration === d.observedGeneration;
  });

/** Same parentRef (the API server may have defaulted nothing in it, but compare by value). */
const sameRef = (a: Record<string, unknown>, b: Record<string, unknown>) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/**
 * The HTTPRoute's `status.parents` to write, or undefined when the current one already says it.
 * `current` is the object's `status` as the API server sent it.
 */
export function httpRouteStatusUpdate(snapshot: MeshSnapshot, route: HttpRoute, generation: number, current: unknown, now: string): { parents: unknown[] } | undefined {
  const currentParents = ((current as { parents?: ApiParentStatus[] } | undefined)?.parents ?? []).filter((p) => p && typeof p === 'object');
  const others = currentParents.filter((p) => p.controllerName !== ROUTE_STATUS_CONTROLLER);
  const ours = currentParents.filter((p) => p.controllerName === ROUTE_STATUS_CONTROLLER);
  const status = httpRouteStatus(snapshot, route);
  const wanted: ApiParentStatus[] = status.parents.map((parent) => {
    const parentRef = apiParentRef(parent.parentRef);
    const before = ours.find((p) => sameRef(p.parentRef ?? {}, parentRef));
    const conditions = withTransitions(
      parent.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, observedGeneration: generation })),
      before?.conditions ?? [],
      now,
    );
    return { parentRef, controllerName: ROUTE_STATUS_CONTROLLER, conditions };
  });
  const unchanged = wanted.length === ours.length && wanted.every((w, i) => sameRef(w.parentRef, ours[i]?.parentRef ?? {}) && sameConditions(w.conditions, ours[i]?.conditions ?? []));
  if (unchanged) return undefined;
  // Gateway API allows at most 32 parent entries.
  return { parents: [...others, ...wanted].slice(0, 32) };
}

/**
 * A waypoint Gateway's `status.conditions` to write, or undefined when they already say it.
 * Accepted: istiod-lite takes every Gateway of class istio-waypoint it could parse. Programmed:
 * the waypoint has an address (declared, or a Ready pod of the Gateway with an IP), so ztunnels
 * can send to it; otherwise False with Gateway API's `AddressNotAssigned`.
 */
export function gatewayStatusUpdate(snapshot: MeshSnapshot, gateway: Gateway, generation: number, current: unknown, now: string): { conditions: ApiCondition[] } | undefined {
  const previous = ((current as { conditions?: ApiCondition[] } | undefined)?.conditions ?? []).filter((c) => c && typeof c === 'object');
  const addresses = snapshot.waypointAddressesOf(gateway);
  const wanted = withTransitions(
    [
      { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'accepted by istiod-lite as a waypoint', observedGeneration: generation },
      addresses.length > 0
        ? { type: 'Programmed', status: 'True', reason: 'Programmed', message: `the waypoint is reachable at ${addresses.join(', ')}`, observedGeneration: generation }
        : {
            type: 'Programmed',
            status: 'False',
            reason: 'AddressNotAssigned',
            message: `no address: neither status.addresses nor a Ready pod labelled gateway.networking.k8s.io/gateway-name=${gateway.name} with an IP`,
            observedGeneration: generation,
          },
    ],
    previous,
    now,
  );
  const ownTypes = new Set(['Accepted', 'Programmed']);
  const mine = previous.filter((c) => ownTypes.has(c.type));
  if (sameConditions(wanted, mine)) return undefined;
  return { conditions: [...previous.filter((c) => !ownTypes.has(c.type)), ...wanted] };
}

/** Istio's condition on AuthorizationPolicies with targetRefs (pilot/pkg/model `WaypointAccepted`). */
export const WAYPOINT_ACCEPTED = 'WaypointAccepted';

/** One targetRef's binding, as Istio's `PolicyBindingStatus`. */
interface Binding {
  ancestor: string;
  bound: boolean;
  reason: string;
  message: string;
}

/** Whether and to which waypoint one targetRef binds, with Istio's reasons and messages (ambient `WaypointPolicyStatus`). */
function bindingOf(snapshot: MeshSnapshot, policy: AuthorizationPolicy, ref: PolicyTargetRef): Binding {
  const key = `${policy.namespace}/${ref.name}`;
  const ancestor = `${ref.kind}${ref.group ? `.${ref.group}` : ''}:${key}`;
  const bound = (to: string): Binding => ({ ancestor, bound: true, reason: 'Accepted', message: `bound to ${to}` });
  const unbound = (reason: string, message: string): Binding => ({ ancestor, bound: false, reason, message });
  if (ref.kind === 'Gateway') {
    const gateway = snapshot.gateways.get(key);
    return gateway?.gatewayClassName === WAYPOINT_GATEWAY_CLASS ? bound(key) : unbound('TargetNotFound', 'not bound');
  }
  if (ref.kind === 'Service') {
    const service = snapshot.services.get(key);
    if (!service) return unbound('TargetNotFound', `Service ${key} was not found`);
    const waypoint = snapshot.waypointFor(service);
    return waypoint ? bound(`${waypoint.namespace}/${waypoint.name}`) : unbound('AncestorNotBound', `Service ${key} is not bound to a waypoint`);
  }
  if (ref.kind === 'GatewayClass') {
    if (policy.namespace !== snapshot.rootNamespace) return unbound('Invalid', `AuthorizationPolicy must be in the root namespace \`${snapshot.rootNamespace}\` when referencing a GatewayClass`);
    return ref.name === WAYPOINT_GATEWAY_CLASS ? bound(ref.name) : unbound('TargetNotFound', 'not bound');
  }
  return unbound('TargetNotFound', `${ref.kind} ${key} was not found`);
}

/**
 * Istio's condition on AuthorizationPolicies without targetRefs, the ones ztunnel enforces
 * (pilot/pkg/model `ZtunnelAccepted`; written from `WorkloadAuthorization.GetConditions`).
 */
export const ZTUNNEL_ACCEPTED = 'ZtunnelAccepted';

type PolicyCondition = Omit<ApiCondition, 'lastTransitionTime' | 'type' | 'observedGeneration'>;

/**
 * `ZtunnelAccepted` as istiod computes it from the policy alone (ambient
 * `convertAuthorizationPolicy`), with this mesh's ztunnel behind each word:
 * - AUDIT: `False`, `UnsupportedValue`, "ztunnel does not support the AUDIT action": neither
 *   istiod nor istiod-lite's generators send it to ztunnel. (CUSTOM, istiod's other case, never
 *   gets here: the parser refuses it, and a refused object gets an Event, no status.)
 * - attributes ztunnel cannot see: `True` (the policy is sent), `UnsupportedValue`, istiod's
 *   message naming them. The names are this mesh's (mesh-model's attribute table, the one its
 *   generators drop by): Istio's list plus `trustDomains`, which this mesh's ztunnel cannot see
 *   either. The rest of the message is true here as in Istio (docs/authorization.md): an ALLOW
 *   rule with them is left out, a DENY rule applies without them.
 * - otherwise `True`, `Accepted`, "attached to ztunnel".
 * What the selector matches is not looked at (Istio does not either): a policy selecting no
 * captured pod, or only a waypoint's pods (not captured), is accepted and enforced nowhere;
 * `meshctl analyze` says so (`AUTHZ_NO_WORKLOAD`).
 */
function ztunnelAccepted(policy: AuthorizationPolicy): PolicyCondition {
  if (policy.action === 'AUDIT') return { status: 'False', reason: 'UnsupportedValue', message: 'ztunnel does not support the AUDIT action' };
  const found = unevaluableAttributes(policy, 'ztunnel');
  if (found.length === 0) return { status: 'True', reason: 'Accepted', message: 'attached to ztunnel' };
  const effect =
    policy.action === 'DENY'
      ? 'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.'
      : 'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';
  return { status: 'True', reason: 'UnsupportedValue', message: `ztunnel does not support HTTP attributes (found: ${found.join(', ')}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ${effect}` };
}

/**
 * `WaypointAccepted` as Istio computes it (ambient `WaypointPolicyStatus`): one targetRef, its
 * own reason and message; several, True when any binds, reason Accepted, PartiallyInvalid or
 * Invalid, message naming the unbound ones (Istio's `flattenConditions`).
 */
function waypointAccepted(snapshot: MeshSnapshot, policy: AuthorizationPolicy): PolicyCondition {
  const bindings = policy.targetRefs.map((ref) => bindingOf(snapshot, policy, ref));
  if (bindings.length === 1) {
    const [only] = bindings as [Binding];
    return { status: only.bound ? 'True' : 'False', reason: only.reason, message: only.message };
  }
  const anyBound = bindings.some((b) => b.bound);
  const unbound = bindings.filter((b) => !b.bound).map((b) => b.ancestor);
  return {
    status: anyBound ? 'True' : 'False',
    reason: anyBound ? (unbound.length > 0 ? 'PartiallyInvalid' : 'Accepted') : 'Invalid',
    message: unbound.length > 0 ? `Invalid targetRefs: ${unbound.join(', ')}` : '',
  };
}

const POLICY_CONDITIONS: ReadonlySet<string> = new Set([WAYPOINT_ACCEPTED, ZTUNNEL_ACCEPTED]);

/**
 * An AuthorizationPolicy's `status.conditions` to write, or undefined when they already say it:
 * the one condition of the place that enforces it, `WaypointAccepted` with targetRefs,
 * `ZtunnelAccepted` without. The other one, written while the policy had (or had not)
 * targetRefs, is removed; conditions of other types are left alone.
 */
export function authorizationPolicyStatusUpdate(snapshot: MeshSnapshot, policy: AuthorizationPolicy, generation: number, current: unknown, now: string): { conditions: ApiCondition[] } | undefined {
  const previous = ((current as { conditions?: ApiCondition[] } | undefined)?.conditions ?? []).filter((c) => c && typeof c === 'object');
  const condition = policy.targetRefs.length === 0 ? { type: ZTUNNEL_ACCEPTED, ...ztunnelAccepted(policy) } : { type: WAYPOINT_ACCEPTED, ...waypointAccepted(snapshot, policy) };
  const wanted = withTransitions([{ ...condition, observedGeneration: generation }], previous, now);
  if (sameConditions(wanted, previous.filter((c) => POLICY_CONDITIONS.has(c.type)))) return undefined;
  return { conditions: [...previous.filter((c) => !POLICY_CONDITIONS.has(c.type)), ...wanted] };
}
