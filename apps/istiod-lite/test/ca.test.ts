import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { generateKeyAndCsr, spiffeServerIdentityCheck, verifyChain } from '@mesh/pki';
import type { SpiffeId } from '@mesh/pki';
import { CaClient } from '@mesh/xds';
import { MESH_YAML, TRUST_DOMAIN, podYaml, refusal, startTestIstiod } from './helpers.js';
import type { TestIstiod } from './helpers.js';

const SLEEP: SpiffeId = { trustDomain: TRUST_DOMAIN, namespace: 'default', serviceAccount: 'sleep' };
const REVIEWS: SpiffeId = { trustDomain: TRUST_DOMAIN, namespace: 'default', serviceAccount: 'reviews' };
const sleepUri = `spiffe://${TRUST_DOMAIN}/ns/default/sa/sleep`;
const reviewsUri = `spiffe://${TRUST_DOMAIN}/ns/default/sa/reviews`;

let env: TestIstiod;
let nodeA: CaClient;
let sleepCsr: string;
let reviewsCsr: string;

beforeAll(async () => {
  env = await startTestIstiod({
    'mesh.yaml': MESH_YAML,
    'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10'),
    'reviews.yaml': podYaml('reviews-v1', 'node-b', '10.77.2.10', 'reviews'),
  });
  nodeA = new CaClient(`127.0.0.1:${env.istiod.ports.xdsTls}`, await env.secureCredentials('node-a'));
  [sleepCsr, reviewsCsr] = await Promise.all([generateKeyAndCsr(SLEEP), generateKeyAndCsr(REVIEWS)]).then((r) => r.map((k) => k.csrPem));
});
afterAll(async () => {
  nodeA?.close();
  await env?.cleanup();
});

describe('CA CreateCertificate with node authorization', () => {
  it('issues a certificate for a pod on the caller node, chaining to the mesh root', async () => {
    const chain = await nodeA.createCertificate({ csrPem: sleepCsr, validitySeconds: 3600 });
    expect(chain).toHaveLength(2);
    expect(verifyChain(chain.join('\n'), env.istiod.ca.rootCertPem)).toEqual(SLEEP);
    const leaf = new (await import('node:crypto')).X509Certificate(chain[0]!);
    const lifetimeMs = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(lifetimeMs).toBeLessThanOrEqual(3600_000 + 120_000); // requested hour, plus pki's clock-skew backdate
  });

  it('signs at most --workload-cert-ttl, whatever the proxy asks for', async () => {
    const short = await startTestIstiod({ 'mesh.yaml': MESH_YAML, 'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10') }, undefined, { workloadCertTtlMs: 30_000 });
    const client = new CaClient(`127.0.0.1:${short.istiod.ports.xdsTls}`, await short.secureCredentials('node-a'));
    try {
      const chain = await client.createCertificate({ csrPem: sleepCsr, validitySeconds: 24 * 3600 });
      const leaf = new (await import('node:crypto')).X509Certificate(chain[0]!);
      expect(Date.parse(leaf.validTo) - Date.now()).toBeLessThanOrEqual(30_000);
      expect(Date.parse(leaf.validTo) - Date.now()).toBeGreaterThan(0);
    } finally {
      client.close();
      await short.cleanup();
    }
  });

  it('refuses a CSR for the identity of a pod on another node, naming where it runs', async () => {
    const error = await refusal(nodeA.createCertificate({ csrPem: reviewsCsr }));
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error.details).toBe(
      `node node-a may not obtain a certificate for ${reviewsUri}: no pod on node-a runs as that identity (it runs on node-b)`,
    );
  });

  it('refuses a CSR whose identity does not match the identity asked for', async () => {
    const error = await refusal(nodeA.createCertificate({ csrPem: reviewsCsr, impersonatedIdentity: sleepUri }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain(`CSR asks for ${reviewsUri} but the caller is ${sleepUri}`);
  });

  it('refuses a caller whose certificate is not a node bootstrap certificate (a workload cannot act as a node)', async () => {
    const { keyPem, csrPem } = await generateKeyAndCsr(SLEEP);
    const chain = await nodeA.createCertificate({ csrPem });
    const credentials = grpc.credentials.createSsl(Buffer.from(env.istiod.ca.rootCertPem), Buffer.from(keyPem), Buffer.from(chain.join('\n')), {
      checkServerIdentity: spiffeServerIdentityCheck([{ trustDomain: TRUST_DOMAIN, namespace: 'istio-system', serviceAccount: 'istiod' }]),
    });
    const workload = new CaClient(`127.0.0.1:${env.istiod.ports.xdsTls}`, credentials);
    try {
      const error = await refusal(workload.createCertificate({ csrPem: sleepCsr }));
      expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(error.details).toMatch(/is not a node bootstrap certificate/);
    } finally {
      workload.close();
    }
  });

  it('is not reachable without a client certificate', async () => {
    const anonymous = new CaClient(`127.0.0.1:${env.istiod.ports.xdsTls}`, grpc.credentials.createSsl(Buffer.from(env.istiod.ca.rootCertPem), null, null, {
      checkServerIdentity: () => undefined,
    }));
    try {
      const error = await refusal(anonymous.createCertificate({ csrPem: sleepCsr, deadlineMs: 3_000 }));
      expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(error.code);
    } finally {
      anonymous.close();
    }
  });
});

describe('a plugged-in CA (Istio cacerts: an intermediate with its chain)', () => {
  let plugged: TestIstiod;
  let client: CaClient;
  beforeAll(async () => {
    plugged = await startTestIstiod({ 'mesh.yaml': MESH_YAML, 'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10') }, undefined, { cacerts: { intermediate: true } });
    // The node's bootstrap credential comes from the plugged-in CA too: its mTLS works.
    client = new CaClient(`127.0.0.1:${plugged.istiod.ports.xdsTls}`, await plugged.secureCredentials('node-a'));
  });
  afterAll(async () => {
    client?.close();
    await plugged?.cleanup();
  });

  it('signs with the intermediate and serves its chain with each certificate: leaf, intermediate, root', async () => {
    const chain = await client.createCertificate({ csrPem: sleepCsr, validitySeconds: 3600 });
    expect(chain).toHaveLength(3);
    expect(chain.slice(1)).toEqual([plugged.istiod.ca.signingCertPem, plugged.istiod.ca.rootCertPem]);
    expect(verifyChain(chain.join(''), plugged.istiod.ca.rootCertPem)).toEqual(SLEEP);
    const { readFile } = await import('node:fs/promises');
    const nodeRoot = await readFile(`${plugged.stateDir}/nodes/node-a/root-cert.pem`, 'utf8');
    expect(nodeRoot).toBe(plugged.istiod.ca.rootCertPem);
  });
});
