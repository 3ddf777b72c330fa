/**
 * PeerAuthentication → what ztunnel enforces, as istiod's ambient index converts it
 * (pilot/pkg/serviceregistry/ambient/authorization.go):
 *
 * - Whenever any PeerAuthentication exists, the static `istio_converted_static_strict` policy
 *   (DENY connections without a peer principal) is sent; a workload whose effective mode is
 *   STRICT lists it.
 * - A workload PeerAuthentication (a selector, outside the root namespace) with port-level mTLS
 *   becomes `<ns>/converted_peer_authentication_<name>`: a DENY policy whose groups refuse
 *   plaintext on the ports (or everywhere but the ports) its modes say, merged with the STRICT it
 *   inherits; workloads it selects list it instead of the static policy when it carries exceptions.
 *
 * Within a level (mesh, namespace, workload) the oldest policy wins (creationTimestamp, then name).
 */
import type { MeshSnapshot, MtlsMode, PeerAuthentication, PodPolicies } from '@mesh/mesh-model';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { STATIC_STRICT_POLICY_NAME, convertedPeerAuthenticationName } from './names.js';

const NO_PRINCIPAL = { not_principals: [{ presence: {} }] };

const hasSelector = (pa: PeerAuthentication) => pa.selector !== undefined && Object.keys(pa.selector.matchLabels).length > 0;

/** The oldest (creationTimestamp, then name; no timestamp counts as newest), as the snapshot chooses per level. */
function oldest(policies: readonly PeerAuthentication[]): PeerAuthentication | undefined {
  return [...policies].sort((a, b) => {
    const ta = a.creationTimestamp ?? '';
    const tb = b.creationTimestamp ?? '';
    if (ta !== tb) return ta === '' ? 1 : tb === '' ? -1 : ta < tb ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  })[0];
}

/** The mesh-wide and namespace-wide policies a PeerAuthentication of `namespace` inherits from. */
function parents(snapshot: MeshSnapshot, namespace: string): { mesh: PeerAuthentication | undefined; ns: PeerAuthentication | undefined } {
  const all = [...snapshot.peerAuthentications.values()];
  return {
    mesh: oldest(all.filter((p) => p.namespace === snapshot.rootNamespace && !hasSelector(p))),
    ns: namespace === snapshot.rootNamespace ? undefined : oldest(all.filter((p) => p.namespace === namespace && !hasSelector(p))),
  };
}

const strict = (m: MtlsMode | undefined) => m === 'STRICT';
/** The Authorization name a workload PeerAuthentication converts to. */
const convertedKey = (pa: PeerAuthentication) => `${pa.namespace}/${convertedPeerAuthenticationName(pa.name)}`;
const unset = (m: MtlsMode | undefined) => m === undefined || m === 'UNSET';
const permissiveOrDisable = (m: MtlsMode | undefined) => m === 'PERMISSIVE' || m === 'DISABLE';

/** The Authorization a workload PeerAuthentication with port-level mTLS converts to, if any. */
export function convertPeerAuthentication(snapshot: MeshSnapshot, pa: PeerAuthentication): ResourceJson | undefined {
  const ports = Object.entries(pa.portLevelMtls).map(([port, mode]) => [Number(port), mode] as const).sort(([a], [b]) => a - b);
  if (pa.namespace === snapshot.rootNamespace || !hasSelector(pa) || ports.length === 0) return undefined;
  const { mesh, ns } = parents(snapshot, pa.namespace);
  const mode = pa.mtlsMode;
  const rules: object[] = [];
  const groups: object[] = [];
  if (strict(mode)) rules.push({ matches: [NO_PRINCIPAL] });
  // A STRICT port adds nothing when STRICT already holds for the workload: its own, or one it
  // inherits because its mode is UNSET. (istiod's condition also skips it when the workload is
  // PERMISSIVE under a STRICT mesh, which leaves that port unprotected; here it is enforced.)
  const inheritedStrict = (unset(mode) && strict(ns?.mtlsMode)) || (unset(mode) && unset(ns?.mtlsMode) && strict(mesh?.mtlsMode));
  let foundNonStrict = false;
  for (const [port, portMode] of ports) {
    if (strict(portMode)) {
      if (strict(mode) || inheritedStrict) continue;
      groups.push({ rules: [{ matches: [{ ...NO_PRINCIPAL, destination_ports: [port] }] }] });
    } else if (permissiveOrDisable(portMode)) {
      if (permissiveOrDisable(mode)) continue;
      if (unset(mode) && ((ns && !strict(ns.mtlsMode)) || (!ns && mesh && !strict(mesh.mtlsMode)) || (!ns && !mesh))) continue;
      foundNonStrict = true;
      rules.push({ matches: [{ not_destination_ports: [port] }] });
    }
  }
  if (strict(mode) && !foundNonStrict) return undefined;
  if (rules.length === 0 && groups.length === 0) return undefined;
  const mergeStrict = (mesh !== undefined && strict(mesh.mtlsMode) && (!ns || unset(ns.mtlsMode) || strict(ns.mtlsMode))) || (ns !== undefined && strict(ns.mtlsMode));
  if (mergeStrict && foundNonStrict) rules.push({ matches: [NO_PRINCIPAL] });
  if (rules.length > 0) groups.push({ rules });
  return { '@type': TYPE_URL.AUTHORIZATION, name: convertedPeerAuthenticationName(pa.name), namespace: pa.namespace, scope: 'WORKLOAD_SELECTOR', action: 'DENY', groups };
}

/**
 * The PeerAuthentication-derived policies a workload lists (istiod's
 * convertedSelectorPeerAuthentications), from the PeerAuthentications the snapshot chose for it:
 * the static STRICT policy when its effective mode is STRICT with no port exceptions, and its
 * workload policy's converted form when that carries port-level modes that differ. One
 * deviation: under a STRICT it inherits, a DISABLE port is an exception like a PERMISSIVE one
 * (istiod looks for PERMISSIVE only there); ztunnel accepts HBONE whatever the mode, so the two
 * mean the same at L4, and the Envoy dialect treats them alike.
 */
export function peerAuthenticationKeys(chosen: PodPolicies['peerAuthentications'], rootNamespace: string): string[] {
  const keys = new Set<string>();
  let isStrict = strict(chosen.mesh?.mtlsMode);
  if (chosen.namespace && !unset(chosen.namespace.mtlsMode)) isStrict = strict(chosen.namespace.mtlsMode);
  const w = chosen.workload;
  if (w) {
    if (strict(w.mtlsMode)) isStrict = true;
    if (permissiveOrDisable(w.mtlsMode)) isStrict = false;
    const modes = Object.values(w.portLevelMtls);
    if (modes.length > 0) {
      if (strict(w.mtlsMode)) {
        if (modes.some(permissiveOrDisable)) {
          keys.add(convertedKey(w));
          isStrict = false;
        }
      } else if (permissiveOrDisable(w.mtlsMode)) {
        if (modes.some(strict)) keys.add(convertedKey(w));
      } else if (isStrict) {
        if (modes.some(permissiveOrDisable)) {
          keys.add(convertedKey(w));
          isStrict = false;
        }
      } else if (modes.some(strict)) {
        keys.add(convertedKey(w));
      }
    }
  }
  if (isStrict) keys.add(`${rootNamespace}/${STATIC_STRICT_POLICY_NAME}`);
  return [...keys].sort();
}
