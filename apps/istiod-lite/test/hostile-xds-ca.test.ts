/**
 * Hostile input on istiod-lite's gRPC ports: xDS (plaintext 15010 when asked for, mTLS 15012,
 * both ADS methods) and the CA (15012). Malformed protobuf, oversized messages, wrong type URLs
 * and nodes, abandoned streams; CSRs with extra SANs, a CA flag, weak, huge or foreign keys, bad
 * signatures. Each gets its gRPC status (or its certificate without what it should not have),
 * istiod-lite keeps serving valid proxies, forgets what the hostile ones left, and its heap
 * stays bounded. The table of these classes is in docs/operations.md ("Hostile input").
 */
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyAndCsr } from '@mesh/pki';
import { ADS_DELTA_METHOD_PATH, ADS_STREAM_METHOD_PATH, CaClient, TYPE_URL, deserializeDiscoveryResponse, serializeDiscoveryRequest, type DiscoveryRequest } from '@mesh/xds';
import { XDS_MAX_REQUEST_BYTES } from '../src/istiod.js';
import { heapAfterGc } from '@mesh/testing';
import { MESH_YAML, TRUST_DOMAIN, nextUpdate, podYaml, proxyNode, startTestIstiod, waitFor, type TestIstiod } from './helpers.js';

const execFileAsync = promisify(execFile);
const SLEEP_URI = `spiffe://${TRUST_DOMAIN}/ns/default/sa/sleep`;
/** Heap that a few hundred hostile streams and requests may leave behind after garbage collection. */
const HEAP_BUDGET_BYTES = 16 * 1024 * 1024;
const ABANDONED_STREAMS = 200;


let env: TestIstiod;
let tmp: string;
const closers: Array<() => unknown> = [];

/** A raw bidi call on an ADS method whose messages are whatever bytes the test writes. */
function rawCall(target: string, credentials: grpc.ChannelCredentials, method: string) {
  const client = new grpc.Client(target, credentials, { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
  const call = client.makeBidiStreamRequest(method, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes);
  const received: Buffer[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => {
    call.on('status', resolve);
    call.on('error', () => undefined);
  });
  call.on('data', (message: Buffer) => received.push(message));
  closers.push(() => client.close());
  return { call, received, status, close: () => client.close() };
}

/** The type URL of a DiscoveryResponse's bytes. */
const typeOf = (bytes: Buffer): string => deserializeDiscoveryResponse(bytes).type_url;

/** A DiscoveryRequest's bytes, the fields not given empty (as proto3 leaves them). */
const request = (fields: Partial<DiscoveryRequest>): Buffer => serializeDiscoveryRequest({ version_info: '', resource_names: [], response_nonce: '', type_url: '', ...fields } as DiscoveryRequest);

/** A valid proxy on the same port still gets its configuration, and ACKs it. */
async function stillServes(nodeName = 'node-a'): Promise<void> {
  const client = env.plaintextClient(nodeName);
  const listeners = nextUpdate(client, TYPE_URL.LISTENER);
  client.start();
  const update = await listeners;
  expect(update.resources.length).toBeGreaterThan(0);
  client.close();
}

const plaintextTarget = () => `127.0.0.1:${env.istiod.ports.xds}`;
const tlsTarget = () => `127.0.0.1:${env.istiod.ports.xdsTls}`;

beforeAll(async () => {
  env = await startTestIstiod({ 'mesh.yaml': MESH_YAML, 'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10') });
  tmp = await mkdtemp(path.join(tmpdir(), 'hostile-ca-'));
  await stillServes();
}, 30_000);

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await env?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe('xDS: malformed and oversized messages', () => {
  const GARBAGE = [
    { name: 'a truncated varint', bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), code: grpc.status.INTERNAL, details: 'Error deserializing request' },
    { name: 'HTTP/1.1 text', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n'), code: grpc.status.INTERNAL, details: 'Error deserializing request' },
    { name: 'a field whose length runs past the message (read as an empty request)', bytes: Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x10]), code: grpc.status.INVALID_ARGUMENT, details: 'carries no node id' },
  ];
  it.each([
    { method: ADS_STREAM_METHOD_PATH, name: 'state of the world' },
    { method: ADS_DELTA_METHOD_PATH, name: 'delta' },
  ])('$name: bytes that are not a DiscoveryRequest end that stream (INTERNAL from gRPC, or INVALID_ARGUMENT naming what is missing), nothing else', async ({ method }) => {
    for (const garbage of GARBAGE) {
      const raw = rawCall(plaintextTarget(), grpc.credentials.createInsecure(), method);
      raw.call.write(garbage.bytes);
      const status = await raw.status;
      expect(status, garbage.name).toMatchObject({ code: garbage.code, details: expect.stringContaining(garbage.details) });
      expect(raw.received).toEqual([]);
      raw.close();
    }
    await stillServes();
  });

  it(`a message over ${XDS_MAX_REQUEST_BYTES / 2 ** 20} MiB is refused with RESOURCE_EXHAUSTED before it is parsed`, async () => {
    const heapBefore = heapAfterGc();
    const raw = rawCall(plaintextTarget(), grpc.credentials.createInsecure(), ADS_STREAM_METHOD_PATH);
    raw.call.write(request({ node: proxyNode('node-a'), type_url: TYPE_URL.LISTENER, resource_names: ['x'.repeat(XDS_MAX_REQUEST_BYTES + 1024)] }));
    expect((await raw.status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    raw.close();
    await stillServes();
    expect(heapAfterGc() - heapBefore).toBeLessThan(HEAP_BUDGET_BYTES);
  }, 30_000);

  it('on 15012, garbage from a verified node is refused the same way; without a client certificate there is no stream at all', async () => {
    const raw = rawCall(tlsTarget(), await env.secureCredentials('node-a'), ADS_STREAM_METHOD_PATH);
    raw.call.write(Buffer.from([0xff, 0xff, 0xff]));
    expect((await raw.status).code).toBe(grpc.status.INTERNAL);
    raw.close();
    const rootPem = await readFile(path.join(env.stateDir, 'root-cert.pem'));
    const anonymous = rawCall(tlsTarget(), grpc.credentials.createSsl(rootPem, null, null, { checkServerIdentity: () => undefined }), ADS_STREAM_METHOD_PATH);
    anonymous.call.write(request({ node: proxyNode('node-a'), type_url: TYPE_URL.LISTENER }));
    expect((await anonymous.status).code).toBe(grpc.status.UNAVAILABLE);
    expect(anonymous.received).toEqual([]);
    anonymous.close();
  });
});

describe('xDS: wrong type URLs and nodes', () => {
  it.each([
    { name: 'an unknown type URL', typeUrl: 'type.googleapis.com/envoy.config.bogus.v3.Nothing' },
    { name: 'an empty type URL', typeUrl: '' },
    { name: 'a 64 KiB type URL', typeUrl: `type.googleapis.com/${'x'.repeat(64 * 1024)}` },
    { name: 'a type URL of another API (Secret, not served)', typeUrl: TYPE_URL.SECRET },
  ])('$name: nothing is sent for it, and the same stream still gets what it asks for next', async ({ typeUrl }) => {
    const raw = rawCall(plaintextTarget(), grpc.credentials.createInsecure(), ADS_STREAM_METHOD_PATH);
    raw.call.write(request({ node: proxyNode('node-a'), type_url: typeUrl }));
    raw.call.write(request({ node: proxyNode('node-a'), type_url: TYPE_URL.CLUSTER }));
    // Then a request that must be answered: one stream answers in order, so an answer to the bad
    // type would have come before this one's.
    raw.call.write(request({ node: proxyNode('node-a'), type_url: TYPE_URL.LISTENER }));
    await waitFor(() => raw.received.some((bytes) => typeOf(bytes) === TYPE_URL.LISTENER), { what: 'the listeners asked for last' });
    expect(raw.received.map(typeOf)).toEqual([TYPE_URL.CLUSTER, TYPE_URL.LISTENER]); // nothing for the bad type
    raw.call.end();
    raw.close();
  });

  it.each([
    { name: 'no node at all', fields: { type_url: TYPE_URL.LISTENER } },
    { name: 'a node id that is not Istio-shaped', fields: { node: { id: 'not~a~proxy', metadata: { NODE_NAME: 'node-a' } }, type_url: TYPE_URL.LISTENER } },
    { name: 'a node naming a node that does not exist', fields: { node: proxyNode('node-z'), type_url: TYPE_URL.LISTENER } },
    { name: 'a 1 MiB node id and metadata', fields: { node: { id: `ztunnel~~${'z'.repeat(1 << 20)}~x`, metadata: { NODE_NAME: 'n'.repeat(1 << 20) } }, type_url: TYPE_URL.LISTENER } },
  ])('$name: a clear end or an empty config, never a crash', async ({ fields }) => {
    const raw = rawCall(plaintextTarget(), grpc.credentials.createInsecure(), ADS_STREAM_METHOD_PATH);
    raw.call.write(request(fields as Partial<DiscoveryRequest>));
    // A second request on the same stream tells an open stream from an ended one without a
    // timeout: open, both are answered, in order; ended, neither is.
    raw.call.write(request({ ...(fields as Partial<DiscoveryRequest>), type_url: TYPE_URL.CLUSTER }));
    const outcome = await Promise.race([raw.status.then((s) => s.code), waitFor(() => raw.received.length >= 2, { what: 'an end or an answer to both requests' }).then(() => 'open' as const)]);
    if (outcome === 'open') expect(raw.received.map(typeOf)).toEqual([TYPE_URL.LISTENER, TYPE_URL.CLUSTER]);
    else {
      expect(outcome).toBe(grpc.status.INVALID_ARGUMENT);
      expect(raw.received).toEqual([]);
    }
    raw.close();
    await stillServes();
  });

  it(`${ABANDONED_STREAMS} streams opened as different nodes and abandoned: syncz forgets them, heap bounded`, async () => {
    const heapBefore = heapAfterGc();
    // Only this test's proxies (10.9.x.y): the others come and go on their own.
    const synczCount = () => env.istiod.ads.syncz().filter((e) => e.proxyId.startsWith('ztunnel~10.9.')).length;
    const baseline = 0;
    const raws = Array.from({ length: ABANDONED_STREAMS }, (_, i) => {
      const raw = rawCall(plaintextTarget(), grpc.credentials.createInsecure(), ADS_STREAM_METHOD_PATH);
      raw.call.write(request({ node: { id: `ztunnel~10.9.${i >> 8}.${i & 255}~ztunnel-x${i}~istio-system.svc.cluster.local`, metadata: { NODE_NAME: 'node-a' } }, type_url: TYPE_URL.CLUSTER }));
      return raw;
    });
    await expect.poll(synczCount, { timeout: 20_000 }).toBeGreaterThanOrEqual(baseline + ABANDONED_STREAMS);
    for (const raw of raws) raw.call.cancel();
    for (const raw of raws) raw.close();
    await expect.poll(synczCount, { timeout: 20_000 }).toBe(baseline);
    await stillServes();
    expect(heapAfterGc() - heapBefore).toBeLessThan(HEAP_BUDGET_BYTES);
  }, 60_000);
});

/** A CSR made by openssl, with whatever extensions and key the case asks for. */
async function opensslCsr(name: string, { key = ['-newkey', 'rsa:2048'], sans = [SLEEP_URI].map((u) => `URI:${u}`), extra = [] as string[] } = {}): Promise<string> {
  const keyFile = path.join(tmp, `${name}.key`);
  const csrFile = path.join(tmp, `${name}.csr`);
  const ext = [`subjectAltName=${sans.join(',')}`, ...extra].flatMap((e) => ['-addext', e]);
  await execFileAsync('openssl', ['req', '-new', ...key, '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', '/O=cluster.local', ...ext]);
  return readFile(csrFile, 'utf8');
}

describe('CA: hostile CSRs (node-a asking for sleep, which runs on node-a)', () => {
  let ca: CaClient;
  beforeAll(async () => {
    ca = new CaClient(tlsTarget(), await env.secureCredentials('node-a'));
    closers.push(() => ca.close());
  });
  const refusal = async (csrPem: string, options: { validitySeconds?: number } = {}) => {
    try {
      await ca.createCertificate({ csrPem, ...options });
    } catch (err) {
      return err as grpc.ServiceError;
    }
    throw new Error('expected the CA to refuse');
  };
  const issued = async (csrPem: string, options: { validitySeconds?: number } = {}) => new X509Certificate((await ca.createCertificate({ csrPem, ...options }))[0]!);

  it('extra DNS and IP SANs are never copied: the certificate names the SPIFFE ID only', async () => {
    const cert = await issued(await opensslCsr('dns', { sans: [`URI:${SLEEP_URI}`, 'DNS:istiod.istio-system.svc', 'DNS:*.cluster.local', 'IP:10.77.0.2'] }));
    expect(cert.subjectAltName).toBe(`URI:${SLEEP_URI}`);
  });

  it('a second URI SAN (another identity) is refused', async () => {
    const error = await refusal(await opensslCsr('two-uris', { sans: [`URI:${SLEEP_URI}`, `URI:spiffe://${TRUST_DOMAIN}/ns/istio-system/sa/istiod`] }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain('exactly one SPIFFE ID');
  });

  it('a CA flag, path length and certificate-signing key usage asked for are never granted', async () => {
    const cert = await issued(await opensslCsr('ca', { extra: ['basicConstraints=critical,CA:TRUE,pathlen:3', 'keyUsage=critical,keyCertSign,cRLSign'] }));
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage ?? []).not.toContain('keyCertSign');
    expect(cert.subjectAltName).toBe(`URI:${SLEEP_URI}`);
  });

  it.each([
    { name: 'a 1024-bit RSA key (too weak)', csr: () => opensslCsr('rsa1024', { key: ['-newkey', 'rsa:1024'] }) },
    { name: 'an EC P-256 key (the CA signs RSA keys only)', csr: () => opensslCsr('ec', { key: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] }) },
    // Hand-made: what matters is that the CA refuses before the costly signature check.
    { name: 'a 16384-bit RSA modulus', csr: async () => rawCsr(randomOdd(16_384), 65_537n) },
    { name: 'a 4096-bit public exponent', csr: async () => rawCsr(randomOdd(2_048), randomOdd(4_096)) },
    { name: 'the exponent 1', csr: async () => rawCsr(randomOdd(2_048), 1n) },
  ])('$name is refused with INVALID_ARGUMENT at once, naming the key', async ({ csr }) => {
    const pem = await csr();
    const started = Date.now();
    const error = await refusal(pem);
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/key|exponent|public key/i);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it.each([
    { name: 'an empty CSR', csr: () => '' },
    { name: 'PEM armour around garbage', csr: () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' },
    { name: 'a 1 MiB CSR', csr: () => `-----BEGIN CERTIFICATE REQUEST-----\n${'QUFB'.repeat(1 << 18)}\n-----END CERTIFICATE REQUEST-----\n` },
    { name: 'a CSR whose signature does not match (a byte of the key flipped)', csr: async () => tamper(await opensslCsr('tampered')) },
  ])('$name is refused with INVALID_ARGUMENT', async ({ csr }) => {
    const error = await refusal(await csr());
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    await expect(issued((await generateKeyAndCsr({ trustDomain: TRUST_DOMAIN, namespace: 'default', serviceAccount: 'sleep' })).csrPem)).resolves.toBeDefined();
  });

  it('a negative or enormous validity gets the default lifetime at most', async () => {
    const csr = (await generateKeyAndCsr({ trustDomain: TRUST_DOMAIN, namespace: 'default', serviceAccount: 'sleep' })).csrPem;
    for (const validitySeconds of [-5, 10 * 365 * 24 * 3600, Number.MAX_SAFE_INTEGER]) {
      const cert = await issued(csr, { validitySeconds });
      expect(Date.parse(cert.validTo) - Date.parse(cert.validFrom)).toBeLessThanOrEqual(24 * 3600_000 + 120_000);
    }
  });
});

/** DER, just enough of it for a PKCS#10 request. */
const der = {
  length: (n: number) => (n < 0x80 ? Buffer.from([n]) : Buffer.concat([Buffer.from([0x80 | Math.ceil(n.toString(16).length / 2)]), Buffer.from(n.toString(16).padStart(Math.ceil(n.toString(16).length / 2) * 2, '0'), 'hex')])),
  tlv: (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), der.length(body.length), body]),
  seq: (...items: Buffer[]) => der.tlv(0x30, Buffer.concat(items)),
  int: (value: bigint) => {
    let hex = value.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
    return der.tlv(0x02, Buffer.from(hex, 'hex'));
  },
  oid: (hex: string) => der.tlv(0x06, Buffer.from(hex, 'hex')),
  nul: () => Buffer.from([0x05, 0x00]),
  bits: (body: Buffer) => der.tlv(0x03, Buffer.concat([Buffer.from([0]), body])),
};
const RSA_ENCRYPTION = '2a864886f70d010101';
const SHA256_WITH_RSA = '2a864886f70d01010b';

function randomOdd(bits: number): bigint {
  const bytes = randomBytes(bits / 8);
  bytes[0] = (bytes[0] ?? 0) | 0x80;
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) | 1;
  return BigInt(`0x${bytes.toString('hex')}`);
}

/** A CSR for `n`, `e` with an empty subject and a random signature (no private key exists). */
function rawCsr(n: bigint, e: bigint): string {
  const spki = der.seq(der.seq(der.oid(RSA_ENCRYPTION), der.nul()), der.bits(der.seq(der.int(n), der.int(e))));
  const info = der.seq(der.int(0n), der.seq(), spki, der.tlv(0xa0, Buffer.alloc(0)));
  const csr = der.seq(info, der.seq(der.oid(SHA256_WITH_RSA), der.nul()), der.bits(randomBytes(256)));
  return `-----BEGIN CERTIFICATE REQUEST-----\n${csr.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** Flips one byte inside the CSR's public key, keeping the DER valid: the signature no longer verifies. */
function tamper(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const at = der.length - 300;
  der[at] = (der[at] ?? 0) ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

