/**
 * The waypoint credential (directory mode; apps/waypoint/ARCHITECTURE.md "Identity and
 * credentials"): istiod-lite issues `<state-dir>/waypoints/<ns>/<gateway>/`, which obtains exactly
 * the Gateway's identity and opens xDS only as that Gateway's waypoint; the node credential no
 * longer obtains the waypoint's identity nor connects as a waypoint.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { generateKeyAndCsr, subjectAltNameUris, verifyChain } from '@mesh/pki';
import { nextEvent } from '@mesh/testing';
import { CaClient, TYPE_URL, XdsClient, type XdsNode } from '@mesh/xds';
import { waypointCredentialDir } from '../src/ca/credentials.js';
import { MESH_YAML, TRUST_DOMAIN, credentialsIn, nextUpdate, proxyNode, refusal, startTestIstiod, waitFor } from './helpers.js';
import type { TestIstiod } from './helpers.js';

const ECHO = readFileSync(new URL('../../../examples/waypoint/echo.yaml', import.meta.url), 'utf8');
const ECHO_WITHOUT_GATEWAY = ECHO.split(/^---$/m)
  .filter((d) => !/^kind: Gateway$/m.test(d))
  .join('---');
const ECHO_WAYPOINT = { namespace: 'echo', gateway: 'waypoint' };
const WAYPOINT_IDENTITY = { trustDomain: TRUST_DOMAIN, namespace: 'echo', serviceAccount: 'waypoint' };
const waypointIdentityUri = `spiffe://${TRUST_DOMAIN}/ns/echo/sa/waypoint`;
const echoUri = `spiffe://${TRUST_DOMAIN}/ns/echo/sa/echo`;
const WAYPOINT_NODE: XdsNode = { id: 'waypoint~10.77.2.30~waypoint-0~echo.svc.cluster.local', metadata: { NODE_NAME: 'node-b' } };

let env: TestIstiod;
let waypointDir: string;
let waypointCsr: string;
let echoCsr: string;
const clients: Array<{ close(): void }> = [];

beforeAll(async () => {
  env = await startTestIstiod({ 'mesh.yaml': MESH_YAML, 'echo.yaml': ECHO });
  waypointDir = waypointCredentialDir(env.stateDir, ECHO_WAYPOINT);
  [waypointCsr, echoCsr] = await Promise.all([generateKeyAndCsr(WAYPOINT_IDENTITY), generateKeyAndCsr({ ...WAYPOINT_IDENTITY, serviceAccount: 'echo' })]).then((r) => r.map((k) => k.csrPem));
});
afterAll(async () => {
  for (const client of clients) client.close();
  await env?.cleanup();
});

async function caClient(credentials: Promise<grpc.ChannelCredentials>): Promise<CaClient> {
  const client = new CaClient(`127.0.0.1:${env.istiod.ports.xdsTls}`, await credentials);
  clients.push(client);
  return client;
}

/** The status an ADS stream opened with `credentials` as `node` ends with. */
async function adsRefusal(node: XdsNode, credentials: grpc.ChannelCredentials): Promise<{ code?: number; details?: string }> {
  const client = new XdsClient({ target: `127.0.0.1:${env.istiod.ports.xdsTls}`, node, credentials, initialBackoffMs: 5_000 });
  clients.push(client);
  const disconnected = nextEvent(client, 'disconnected');
  client.start();
  const [error] = (await disconnected) as [{ code?: number; details?: string }];
  client.close();
  return error;
}

describe('the waypoint credential', () => {
  it('is issued for each istio-waypoint Gateway, with the node credentials\' layout and file modes and one waypoint URI', async () => {
    expect((await stat(waypointDir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(waypointDir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(waypointDir, 'cert.pem'))).mode & 0o777).toBe(0o644);
    expect(await readFile(path.join(waypointDir, 'root-cert.pem'), 'utf8')).toBe(env.istiod.ca.rootCertPem);
    const leaf = new X509Certificate(await readFile(path.join(waypointDir, 'cert.pem')));
    expect(subjectAltNameUris(leaf.subjectAltName)).toEqual([`spiffe://${TRUST_DOMAIN}/waypoint/echo/waypoint`]);
    expect(leaf.verify(new X509Certificate(env.istiod.ca.rootCertPem).publicKey)).toBe(true);
  });

  it("obtains exactly its Gateway's identity from the CA", async () => {
    const waypoint = await caClient(credentialsIn(waypointDir));
    const chain = await waypoint.createCertificate({ csrPem: waypointCsr, impersonatedIdentity: waypointIdentityUri });
    expect(verifyChain(chain.join('\n'), env.istiod.ca.rootCertPem)).toEqual(WAYPOINT_IDENTITY);
    const error = await refusal(waypoint.createCertificate({ csrPem: echoCsr, impersonatedIdentity: echoUri }));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toBe(`waypoint echo/waypoint may not obtain a certificate for ${echoUri}: a waypoint credential obtains only its Gateway's identity ${waypointIdentityUri}`);
  });

  it("is the only credential that obtains the waypoint's identity: the node's is refused, naming the waypoint", async () => {
    const nodeB = await caClient(env.secureCredentials('node-b'));
    const error = await refusal(nodeB.createCertificate({ csrPem: waypointCsr, impersonatedIdentity: waypointIdentityUri }));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toBe(
      `node node-b may not obtain a certificate for ${waypointIdentityUri}: it is the identity of waypoint pod echo/waypoint-0 (Gateway echo/waypoint), which has a credential of its own (<state-dir>/waypoints/echo/waypoint)`,
    );
    // The node keeps the identities of its other pods (echo-v2 runs on node-b as echo).
    await expect(nodeB.createCertificate({ csrPem: echoCsr, impersonatedIdentity: echoUri })).resolves.toHaveLength(2);
  });

  it("opens xDS as its Gateway's waypoint, on the pod's node; never as a ztunnel", async () => {
    const client = new XdsClient({ target: `127.0.0.1:${env.istiod.ports.xdsTls}`, node: WAYPOINT_NODE, credentials: await credentialsIn(waypointDir) });
    clients.push(client);
    const listeners = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    await listeners;
    expect(env.istiod.ads.syncz().find((row) => row.proxyId === WAYPOINT_NODE.id)).toMatchObject({ nodeName: 'node-b', verified: true, secure: true });
    client.close();

    const asZtunnel = await adsRefusal(proxyNode('node-b'), await credentialsIn(waypointDir));
    expect(asZtunnel.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(asZtunnel.details).toMatch(/the waypoint credential of Gateway echo\/waypoint may not connect as ztunnel~.*: it may connect only as a waypoint proxy of that Gateway, not as a ztunnel/);
  });

  it('a node credential no longer opens xDS as a waypoint', async () => {
    const error = await adsRefusal(WAYPOINT_NODE, await env.secureCredentials('node-b'));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toMatch(/the node bootstrap credential of node-b may not connect as waypoint .*: waypoints have credentials of their own/);
  });

  it('goes with its Gateway; a Gateway made again gets a new one and the old copy stays refused', async () => {
    const oldCredentials = await credentialsIn(waypointDir);
    const oldCert = await readFile(path.join(waypointDir, 'cert.pem'), 'utf8');
    await env.writeManifest('echo.yaml', ECHO_WITHOUT_GATEWAY);
    await waitFor(() => stat(waypointDir).then(() => false, () => true));
    const old = new CaClient(`127.0.0.1:${env.istiod.ports.xdsTls}`, oldCredentials);
    clients.push(old);
    const gone = await refusal(old.createCertificate({ csrPem: waypointCsr, impersonatedIdentity: waypointIdentityUri }));
    expect(gone.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(gone.details).toMatch(/the waypoint credential of Gateway echo\/waypoint is not the one istiod-lite holds for it now/);

    await env.writeManifest('echo.yaml', ECHO);
    await waitFor(() => readFile(path.join(waypointDir, 'cert.pem'), 'utf8').then((cert) => cert !== oldCert, () => false));
    const again = await refusal(old.createCertificate({ csrPem: waypointCsr, impersonatedIdentity: waypointIdentityUri }));
    expect(again.code).toBe(grpc.status.UNAUTHENTICATED);
    const renewed = await caClient(credentialsIn(waypointDir));
    expect(verifyChain((await renewed.createCertificate({ csrPem: waypointCsr, impersonatedIdentity: waypointIdentityUri })).join('\n'), env.istiod.ca.rootCertPem)).toEqual(WAYPOINT_IDENTITY);
  });
});
