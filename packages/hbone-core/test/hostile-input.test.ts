/**
 * Hostile input on an HBONE port: every attack of `HOSTILE_ATTACKS` against an HboneServer in its
 * own process. After each one the process still runs, a valid tunnel still echoes (checked while
 * anything the attack holds open is still open), and its memory stayed bounded. The answers and
 * figures are printed; docs/operations.md ("Hostile input") lists them. e2e/hbone-port.test.ts
 * runs the same attacks against a ztunnel and a waypoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '@mesh/pki/testing';
import { HbonePool, createHboneSecureContext } from '../src/index.js';
import { HOSTILE_ATTACKS, HOSTILE_PEAK_GROWTH_BOUND_MIB, TEST_CLIENT_ID, runHostileAttack, type HostileRun, type HostileTarget } from '../src/testing/index.js';
import { connect } from 'node:net';
import { startHbonePeer, type HbonePeer } from './peer/peer-process.js';


const isLinux = process.platform === 'linux';

describe.skipIf(!isLinux)('hostile input on an HBONE port (an HboneServer process)', () => {
  const ca = createTestCa();
  const client = ca.issue(TEST_CLIENT_ID);
  const clientContext = createHboneSecureContext({ keyPem: client.keyPem, certChainPem: client.chainPem, rootCertPem: ca.rootPem });
  let peer: HbonePeer;
  let pool: HbonePool;
  let target: HostileTarget;
  const runs: HostileRun[] = [];

  beforeAll(async () => {
    peer = await startHbonePeer(ca);
    pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => clientContext });
    target = { connect: () => connect({ host: '127.0.0.1', port: peer.hbonePort }), clientContext, rootPem: ca.rootPem, echoAuthority: `127.0.0.1:${peer.echoPort}` };
  });
  afterAll(async () => {
    pool?.destroy();
    await peer?.close();
    console.log(`hostile input (HboneServer process):\n${runs.map((r) => `  ${r.attack}: ${r.count} ${r.unit} → ${r.answer}; RSS ${r.memoryMiB.before} → peak ${r.memoryMiB.peak} → ${r.memoryMiB.after} MiB`).join('\n')}`);
  });

  async function tunnelEchoes(): Promise<void> {
    // A new connection each time: the attack may have closed the pooled one.
    const fresh = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => clientContext });
    try {
      const stream = await fresh.open({
        sourceIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
        destination: `127.0.0.1:${peer.hbonePort}`,
        expectedIdentities: ['spiffe://cluster.local/ns/default/sa/reviews'],
        authority: target.echoAuthority,
      });
      stream.end('still serving');
      let echoed = '';
      for await (const chunk of stream) echoed += String(chunk);
      expect(echoed).toBe('still serving');
    } finally {
      fresh.destroy();
    }
  }

  for (const attack of HOSTILE_ATTACKS) {
    it(`${attack.name}: the process survives, a tunnel still echoes, memory stays bounded`, async () => {
      const run = await runHostileAttack(attack, target, { pid: peer.child.pid!, alive: () => peer.alive(), tunnelEchoes });
      runs.push(run);
      expect(peer.alive()).toBe(true);
      expect(run.memoryMiB.peak - run.memoryMiB.before).toBeLessThan(HOSTILE_PEAK_GROWTH_BOUND_MIB);
    }, 120_000);
  }
});
