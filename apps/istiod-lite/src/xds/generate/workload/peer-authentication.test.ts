/**
 * PeerAuthentication with port-level mTLS → what a workload lists and the DENY policy it converts
 * to, case by case after istiod's ambient conversion (authorization.go), and the two places
 * docs/workload-api.md says this project differs.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import { convertPeerAuthentication, peerAuthenticationKeys } from './peer-authentication.js';

const POD = `apiVersion: v1
kind: Pod
metadata: {name: api, namespace: default, labels: {app: api}}
spec: {nodeName: node-a, containers: [{name: c, ports: [{containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.0.0.1}
`;
const pa = (name: string, namespace: string, spec: string) => `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}\n`;
const workloadPa = (mode: string | undefined, ports: Record<number, string>) =>
  pa('api', 'default', `  selector: {matchLabels: {app: api}}\n${mode ? `  mtls: {mode: ${mode}}\n` : ''}  portLevelMtls:\n${Object.entries(ports).map(([p, m]) => `    ${p}: {mode: ${m}}`).join('\n')}`);

function convert(...docs: string[]) {
  const { resources, errors } = parseManifests([POD, ...docs].join('---\n'), 'pa.yaml');
  expect(errors).toEqual([]);
  const snapshot = buildSnapshot(resources);
  const pod = snapshot.pods.get('default/api')!;
  const workload = [...snapshot.peerAuthentications.values()].find((p) => p.name === 'api');
  return { keys: peerAuthenticationKeys(snapshot.policiesFor(pod).peerAuthentications, snapshot.rootNamespace), policy: workload && convertPeerAuthentication(snapshot, workload) };
}
const NO_PRINCIPAL = { not_principals: [{ presence: {} }] };
const STATIC = 'istio-system/istio_converted_static_strict';
const CONVERTED = 'default/converted_peer_authentication_api';

describe('PeerAuthentication → ztunnel policies', () => {
  it('namespace STRICT, no workload policy: the static STRICT policy', () => {
    expect(convert(pa('ns', 'default', '  mtls: {mode: STRICT}')).keys).toEqual([STATIC]);
    expect(convert(pa('ns', 'default', '  mtls: {mode: PERMISSIVE}')).keys).toEqual([]);
  });

  it('workload STRICT with a PERMISSIVE port: its own policy, STRICT except that port', () => {
    const { keys, policy } = convert(workloadPa('STRICT', { 8080: 'PERMISSIVE' }));
    expect(keys).toEqual([CONVERTED]);
    expect(policy).toMatchObject({ name: 'converted_peer_authentication_api', scope: 'WORKLOAD_SELECTOR', action: 'DENY', groups: [{ rules: [{ matches: [NO_PRINCIPAL] }, { matches: [{ not_destination_ports: [8080] }] }] }] });
  });

  it('workload STRICT with only STRICT ports: just STRICT (the static policy; nothing converted)', () => {
    expect(convert(workloadPa('STRICT', { 8080: 'STRICT' }))).toEqual({ keys: [STATIC], policy: undefined });
  });

  it('workload PERMISSIVE (or UNSET under PERMISSIVE) with a STRICT port: a group per STRICT port', () => {
    for (const mode of ['PERMISSIVE', undefined]) {
      const { keys, policy } = convert(workloadPa(mode, { 8080: 'STRICT', 9090: 'PERMISSIVE' }));
      expect(keys).toEqual([CONVERTED]);
      expect(policy?.['groups']).toEqual([{ rules: [{ matches: [{ ...NO_PRINCIPAL, destination_ports: [8080] }] }] }]);
    }
  });

  it('UNSET under an inherited STRICT with a PERMISSIVE or DISABLE port: the converted policy merges the STRICT it replaces', () => {
    for (const portMode of ['PERMISSIVE', 'DISABLE']) {
      const { keys, policy } = convert(pa('mesh', 'istio-system', '  mtls: {mode: STRICT}'), workloadPa(undefined, { 8080: portMode }));
      expect(keys, portMode).toEqual([CONVERTED]);
      expect(policy?.['groups']).toEqual([{ rules: [{ matches: [{ not_destination_ports: [8080] }] }, { matches: [NO_PRINCIPAL] }] }]);
    }
  });

  it('a STRICT port of a PERMISSIVE workload under a STRICT mesh is enforced (istiod would skip it)', () => {
    const { keys, policy } = convert(pa('mesh', 'istio-system', '  mtls: {mode: STRICT}'), workloadPa('PERMISSIVE', { 8080: 'STRICT' }));
    expect(keys).toEqual([CONVERTED]);
    expect(policy?.['groups']).toEqual([{ rules: [{ matches: [{ ...NO_PRINCIPAL, destination_ports: [8080] }] }] }]);
  });
});
