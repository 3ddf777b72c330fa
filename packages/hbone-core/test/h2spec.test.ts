/**
 * h2spec's whole suite against an HBONE server in its own process, one case at a time, through a
 * TLS relay that presents a client certificate (h2spec cannot). After every case the process
 * must still run and a valid tunnel must still echo. Cases an HBONE server cannot or need not
 * pass are listed with the reason (see docs/operations.md, "HTTP/2 conformance"); any other
 * failure fails the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '@mesh/pki/testing';
import { HbonePool, createHboneSecureContext } from '../src/index.js';
import { TEST_CLIENT_ID, listH2specCases, missingToolReason, runH2specCase, startTlsRelay, testToolPath, type H2specResult, type TlsRelay } from '../src/testing/index.js';
import { startHbonePeer, type HbonePeer } from './peer/peer-process.js';

const H2SPEC = testToolPath('h2spec');

const NGHTTP2_CLOSED_STREAMS =
  "Node's HTTP/2 (nghttp2) keeps no state for closed streams and ignores frames on them instead of answering STREAM_CLOSED; a plain Node HTTP/2 server fails it too";
const NGHTTP2_PRIORITY = 'RFC 9113 deprecated the RFC 7540 priority scheme and nghttp2 ignores PRIORITY frames; a plain Node HTTP/2 server fails it too';
const ANSWERED_AT_ONCE =
  'a CONNECT-only server answers any other method at once (400), so whether the follow-up frame meets an open or an already closed stream depends on timing; passes when run alone';

/**
 * What h2spec saw instead of the error it waited for was the end of our complete answer to a
 * non-CONNECT request (the DATA frame with END_STREAM of the 27-byte body "HBONE accepts CONNECT
 * only\n"): the ANSWERED_AT_ONCE race, whichever case it hit.
 */
function answeredAtOnce(result: H2specResult): boolean {
  return /DATA Frame \(length:27, flags:0x01, stream_id:\d+\)$/.test(result.detail ?? '');
}

/**
 * Cases an HBONE server on Node's HTTP/2 fails (or may fail), and why. None of them ends the
 * process or the next tunnel. Listed here may also pass; anything else failing fails the test.
 */
const H2SPEC_EXPECTED_FAILURES: Record<string, string> = {
  'http2/4.2/2': ANSWERED_AT_ONCE,
  'http2/4.2/3': 'we advertise SETTINGS_MAX_FRAME_SIZE 256 KiB (fewer frames per tunnel byte); the 20 KB header block h2spec sends to exceed the 16 KiB default is within it, so a 400 (not FRAME_SIZE_ERROR) is the right answer',
  'http2/5.1/6': ANSWERED_AT_ONCE,
  'http2/5.1/8': NGHTTP2_CLOSED_STREAMS,
  'http2/5.1/9': NGHTTP2_CLOSED_STREAMS,
  'http2/5.1/11': NGHTTP2_CLOSED_STREAMS,
  'http2/5.1/12': NGHTTP2_CLOSED_STREAMS,
  'http2/5.1.1/2': `${NGHTTP2_CLOSED_STREAMS} (a lower stream id counts as closed)`,
  'http2/5.1.2/1': ANSWERED_AT_ONCE,
  'http2/5.3.1/2': NGHTTP2_PRIORITY,
  'http2/6.3/1': NGHTTP2_PRIORITY,
  'http2/6.7/2': 'Node ends the session on an unsolicited PING ACK (a protocol error to nghttp2) instead of ignoring it; a plain Node HTTP/2 server fails it too',
  'http2/6.9.1/3': 'nghttp2 treats a stream window above 2^31-1 as a connection error (GOAWAY FLOW_CONTROL_ERROR) rather than a stream error; a plain Node HTTP/2 server fails it too',
};

describe.skipIf(!H2SPEC)(`h2spec against the HBONE port${H2SPEC ? '' : ` (skipped: ${missingToolReason('h2spec')})`}`, () => {
  const ca = createTestCa();
  let peer: HbonePeer;
  let relay: TlsRelay;
  let pool: HbonePool;
  const clientContext = () => {
    const c = ca.issue(TEST_CLIENT_ID);
    return createHboneSecureContext({ keyPem: c.keyPem, certChainPem: c.chainPem, rootCertPem: ca.rootPem });
  };

  beforeAll(async () => {
    peer = await startHbonePeer(ca);
    relay = await startTlsRelay({ secureContext: clientContext(), target: { host: '127.0.0.1', port: peer.hbonePort } });
    const context = clientContext();
    pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => context });
  });
  afterAll(async () => {
    pool?.destroy();
    await relay?.close();
    await peer?.close();
  });

  async function tunnelEchoes(text: string): Promise<string> {
    const stream = await pool.open({
      sourceIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
      destination: `127.0.0.1:${peer.hbonePort}`,
      expectedIdentities: ['spiffe://cluster.local/ns/default/sa/reviews'],
      authority: `127.0.0.1:${peer.echoPort}`,
    });
    stream.end(text);
    let echoed = '';
    for await (const chunk of stream) echoed += String(chunk);
    return echoed;
  }

  it('runs every case; the server survives each one and still serves a tunnel; only the listed cases fail', async () => {
    const cases = await listH2specCases(H2SPEC!);
    expect(cases.length).toBeGreaterThan(140);
    const results: H2specResult[] = [];
    // Four at a time: most cases take milliseconds, the failing ones wait for h2spec's 2 s timeout.
    const queue = [...cases];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const result = await runH2specCase(H2SPEC!, { host: '127.0.0.1', port: relay.port }, next);
          results.push(result);
          if (!peer.alive()) throw new Error(`the HBONE server exited during h2spec ${next.id} (${next.title}):\n${peer.output()}`);
          expect(await tunnelEchoes(next.id)).toBe(next.id);
        }
      }),
    );
    const failed = results.filter((r) => r.outcome === 'failed').sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
    // Whether h2spec's follow-up frame meets a stream the server already answered depends on
    // timing (ANSWERED_AT_ONCE), the more so on a busy machine: a case that fails in the
    // parallel run but passes when run again on its own is that, not a defect.
    const timing: H2specResult[] = [];
    const unexpected: H2specResult[] = [];
    for (const r of failed.filter((f) => !(f.id in H2SPEC_EXPECTED_FAILURES))) {
      if (answeredAtOnce(r)) {
        timing.push(r);
        continue;
      }
      const alone = await runH2specCase(H2SPEC!, { host: '127.0.0.1', port: relay.port }, r);
      (alone.outcome === 'passed' ? timing : unexpected).push(r);
    }
    if (timing.length > 0) console.log(`h2spec: passed when run alone (timing, see ANSWERED_AT_ONCE): ${timing.map((r) => r.id).join(', ')}`);
    const nowPassing = Object.keys(H2SPEC_EXPECTED_FAILURES).filter((id) => results.find((r) => r.id === id)?.outcome === 'passed');
    const summary = `${results.length} cases: ${results.filter((r) => r.outcome === 'passed').length} passed, ${failed.length} failed, ${results.filter((r) => r.outcome === 'skipped').length} skipped`;
    console.log(`h2spec: ${summary}\n${failed.map((r) => `  ${r.id} ${r.title}: ${r.detail}`).join('\n')}${nowPassing.length ? `\nlisted as failing but passed: ${nowPassing.join(', ')}` : ''}`);
    expect(unexpected.map((r) => `${r.id} ${r.title}: ${r.detail}`)).toEqual([]);
    expect(peer.alive()).toBe(true);
  }, 300_000);
});
