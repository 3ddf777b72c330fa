/**
 * Wire compatibility with Istio: every golden workload-dialect resource, encoded by @mesh/xds,
 * is decoded by Istio's own generated Go types (tools/workloadapi-check, istio.io/istio
 * pkg/workloadapi): no field Istio does not know, Istio reads exactly the JSON we meant, and
 * what Istio's own encoder writes for it decodes here to the same JSON (field order on the wire
 * may differ: Go writes a message's oneof after its other fields, which every parser accepts).
 */
import { describe, expect, it } from 'vitest';
import { decodeResource, encodeResource, type ResourceJson } from '@mesh/xds';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import { generateWorkloadResources } from '../src/xds/generate/workload/index.js';
import { authorizationResources } from '../src/xds/generate/workload/authorization.js';
import { snapshotOf } from './golden/golden-files.js';
import { NOT_BUILT_REASON, WORKLOADAPI_CHECK_BUILT, istioDecode } from './workloadapi-check.js';

const MESHES: Record<string, string[]> = {
  bookinfo: ['bookinfo'],
  deny: ['bookinfo', 'policies/deny-sleep-to-ratings.yaml'],
  allow: ['bookinfo', 'policies/allow-productpage-to-reviews.yaml'],
  strict: ['bookinfo', 'policies/strict-mtls.yaml'],
  waypoint: ['bookinfo', 'waypoint'],
  portlevel: ['bookinfo', 'policies/strict-mtls.yaml', 'policies/ratings-plaintext-9080.yaml'],
};

/** Every kind of Match field, service accounts (lowerCamel in Istio's proto), CIDRs, dry run. */
const RICH_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: rich
  namespace: default
  annotations:
    istio.io/dry-run: "true"
spec:
  selector:
    matchLabels: {app: ratings}
  action: DENY
  rules:
    - from:
        - source: {principals: ["*"], notNamespaces: ["x*"], ipBlocks: ["10.0.0.0/8"], notIpBlocks: ["fd00::/64"]}
        - source: {serviceAccounts: ["sleep"], notServiceAccounts: ["other/api"]}
      to:
        - operation: {ports: ["9080"], notPorts: ["15021"]}
      when:
        - key: destination.ip
          values: ["10.77.2.13"]
`;

function richResources(): ResourceJson[] {
  const { resources } = parseManifests(RICH_POLICY, 'rich.yaml');
  return [...authorizationResources(buildSnapshot(resources)).values()];
}

/** Istio's types read each resource: no unknown field, the same JSON, and Istio's own encoding decodes back to it here. */
async function expectIstioReads(resources: readonly ResourceJson[]): Promise<void> {
  const anys = resources.map((r) => encodeResource(r));
  const views = await istioDecode(anys);
  expect(views).toHaveLength(resources.length);
  views.forEach((view, i) => {
    const { '@type': typeUrl, ...ours } = resources[i] as ResourceJson;
    expect(view.error, typeUrl).toBeUndefined();
    expect(view.type_url).toBe(typeUrl);
    expect(view.unknown, JSON.stringify(ours)).toEqual([]);
    expect(view.json).toEqual(ours);
    expect(decodeResource({ type_url: view.type_url, value: new Uint8Array(Buffer.from(view.reencoded, 'base64')) })).toEqual(resources[i]);
  });
}

describe.skipIf(!WORKLOADAPI_CHECK_BUILT)(`Istio's generated types decode what istiod-lite serves${NOT_BUILT_REASON}`, () => {
  for (const [name, manifests] of Object.entries(MESHES)) {
    it(name, async () => {
      const generated = generateWorkloadResources(snapshotOf(...manifests));
      await expectIstioReads([...generated.addresses.values(), ...generated.authorizations.values()]);
    });
  }

  it('every Match field, service accounts, IPv6 CIDRs, dry run', async () => {
    const resources = richResources();
    expect(resources).toHaveLength(1);
    await expectIstioReads(resources);
  });
});
