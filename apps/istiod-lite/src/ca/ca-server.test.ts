import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { buildSnapshot, parseManifests, type MeshSnapshot } from '@mesh/mesh-model';
import { RootCa, generateKeyAndCsr } from '@mesh/pki';
import type { IstioCertificateResponse } from '@mesh/xds';
import { createMemoryLogger } from '../log.js';
import { caServiceHandlers } from './ca-server.js';
import type { Caller } from './caller.js';

const ECHO = readFileSync(new URL('../../../../examples/waypoint/echo.yaml', import.meta.url), 'utf8');
const WAYPOINT_URI = 'spiffe://cluster.local/ns/echo/sa/waypoint';

function mesh(text: string): MeshSnapshot {
  const { resources, errors } = parseManifests(text, 'test.yaml');
  expect(errors).toEqual([]);
  return buildSnapshot(resources);
}

const withGateway = mesh(ECHO);
const withoutGateway = mesh(
  ECHO.split(/^---$/m)
    .filter((d) => !/^kind: Gateway$/m.test(d))
    .join('---'),
);

let ca: RootCa;
let csrPem: string;
beforeAll(async () => {
  ca = RootCa.create({ trustDomain: 'cluster.local' });
  csrPem = (await generateKeyAndCsr({ trustDomain: 'cluster.local', namespace: 'echo', serviceAccount: 'waypoint' })).csrPem;
});

/** CreateCertificate for `caller` (authenticated already) asking for the waypoint's identity: the status, 0 when issued. */
function createFor(caller: Caller, snapshot: MeshSnapshot, waypointCredentials: boolean): Promise<{ code: number; details?: string }> {
  const handler = caServiceHandlers({ ca, snapshot: () => snapshot, logger: createMemoryLogger(), authenticate: async () => caller, waypointCredentials })['CreateCertificate'] as grpc.handleUnaryCall<unknown, IstioCertificateResponse>;
  const call = {
    metadata: new grpc.Metadata(),
    getAuthContext: () => ({}),
    getPeer: () => 'test',
    request: { csr: csrPem, validity_duration: 0, metadata: { fields: { ImpersonatedIdentity: { stringValue: WAYPOINT_URI } } } },
  } as unknown as grpc.ServerUnaryCall<unknown, IstioCertificateResponse>;
  return new Promise((resolve) => handler(call, (err) => resolve(err ? { code: err.code ?? -1, ...(err.details ? { details: err.details } : {}) } : { code: 0 })));
}

describe('CreateCertificate for the waypoint identity', () => {
  const waypoint: Caller = { kind: 'waypoint', namespace: 'echo', gateway: 'waypoint' };
  const nodeB: Caller = { kind: 'node', nodeName: 'node-b' };

  it('issues it to the waypoint credential while its Gateway exists, and refuses it once the Gateway is deleted', async () => {
    expect(await createFor(waypoint, withGateway, true)).toEqual({ code: 0 });
    expect(await createFor(waypoint, withoutGateway, true)).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: `waypoint echo/waypoint may not obtain a certificate for ${WAYPOINT_URI}: there is no Gateway echo/waypoint with gatewayClassName istio-waypoint`,
    });
  });

  it("refuses the node credential when waypoints have their own (directory mode); without them (Kubernetes) the node keeps today's rule", async () => {
    expect(await createFor(nodeB, withGateway, true)).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringContaining('which has a credential of its own') });
    expect(await createFor(nodeB, withGateway, false)).toEqual({ code: 0 });
    // No Gateway: waypoint-0 is an ordinary pod of node-b, whose identity its node obtains.
    expect(await createFor(nodeB, withoutGateway, true)).toEqual({ code: 0 });
  });
});
