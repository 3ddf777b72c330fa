/**
 * A raw HBONE client inside a network namespace, holding a mesh identity signed by istiod-lite's
 * root (read from its state dir): what a peer ztunnel (or a hostile one) sends on port 15008,
 * frame by frame, without hbone-core's pool in between.
 */
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { generateKeyAndCsr, parseSpiffeUri, RootCa } from '@mesh/pki';
import { createTcpSocket } from '@mesh/netfilter';

/** A client TLS context for `identity`, issued by the mesh root in istiod-lite's state dir. */
export async function meshClientContext(stateDir: string, identity: string): Promise<SecureContext> {
  const root = RootCa.load(stateDir);
  const id = parseSpiffeUri(identity);
  const { keyPem, csrPem } = await generateKeyAndCsr(id);
  const cert = root.issueWorkloadCert({ csrPem, identity: id });
  return createSecureContext({ key: keyPem, cert: cert.chainPem, ca: root.rootCertPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
}

/** An HTTP/2 session over mTLS from `netns` to `host:port` (a pod address, captured to its node's ztunnel). */
export function hboneSessionFrom(netns: string, host: string, port: number, context: SecureContext): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const tcp = createTcpSocket({ netns }).connect(port, host);
    const tls = tlsConnect({ socket: tcp, secureContext: context, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    tls.once('error', reject);
    tls.once('secureConnect', () => {
      tls.off('error', reject);
      const session = h2connect(`https://${host}:${port}`, { createConnection: () => tls });
      session.on('error', () => undefined);
      resolve(session);
    });
  });
}

/** CONNECT `authority`; resolves with the response status and the stream. */
export function connectStream(session: ClientHttp2Session, authority: string, headers: Record<string, string> = {}): Promise<{ status: number; stream: ClientHttp2Stream }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'CONNECT', ':authority': authority, ...headers }, { endStream: false });
    stream.once('error', reject);
    stream.once('response', (h) => {
      stream.off('error', reject);
      stream.on('error', () => undefined);
      resolve({ status: Number(h[':status']), stream });
    });
  });
}
