import { describe, expect, it } from 'vitest';
import { pickIstiodPod, portForwardError, resolveZtunnelPod, type KubePod } from './kube.js';

const pod = (name: string, nodeName: string | undefined, ready = true, phase = 'Running'): KubePod => ({ namespace: 'istio-system', name, nodeName, ready, phase });
const ZTUNNELS = [pod('ztunnel-b2x7k', 'node-b'), pod('ztunnel-old11', 'node-a', false, 'Pending'), pod('ztunnel-a9q4m', 'node-a'), pod('ztunnel-c5d6e', 'node-a', false)];

describe('resolveZtunnelPod: ztunnel-<node> or a pod name → the DaemonSet pod', () => {
  it.each([
    { target: 'ztunnel-node-b', expected: 'ztunnel-b2x7k' },
    { target: 'ztunnel-node-a', expected: 'ztunnel-a9q4m', why: 'the ready one of several on the node (a rolling update)' },
    { target: 'ztunnel-old11', expected: 'ztunnel-old11', why: 'a pod name as istioctl takes it, even not ready' },
    { target: 'ztunnel-b2x7k.istio-system', expected: 'ztunnel-b2x7k', why: "istioctl's name.namespace" },
  ])('$target → $expected', ({ target, expected }) => {
    expect(resolveZtunnelPod(ZTUNNELS, target).name).toBe(expected);
  });

  it('a dotted target is a node too (node names are often FQDNs)', () => {
    expect(resolveZtunnelPod([...ZTUNNELS, pod('ztunnel-fqdn1', 'ip-10-0-0-7.ec2.internal')], 'ztunnel-ip-10-0-0-7.ec2.internal').name).toBe('ztunnel-fqdn1');
  });

  it('an unknown node fails naming the ztunnels there are', () => {
    expect(() => resolveZtunnelPod(ZTUNNELS, 'ztunnel-node-z')).toThrow(
      'no ztunnel runs on node node-z: ztunnels (pods labelled app=ztunnel in istio-system): ztunnel-node-a (pod ztunnel-old11), ztunnel-node-a (pod ztunnel-a9q4m), ztunnel-node-a (pod ztunnel-c5d6e), ztunnel-node-b (pod ztunnel-b2x7k) (hint: a ztunnel target is ztunnel-<node> or the ztunnel pod name)',
    );
    expect(() => resolveZtunnelPod([], 'ztunnel-node-z')).toThrow(/ztunnels \(pods labelled app=ztunnel in istio-system\): none \(hint/);
    // A dotted name is tried as name.namespace and as a node (node names are often FQDNs).
    expect(() => resolveZtunnelPod(ZTUNNELS, 'ztunnel-zzzzz.istio-system')).toThrow(/^no ztunnel pod is ztunnel-zzzzz\.istio-system \(name\.namespace\) and no ztunnel runs on node zzzzz\.istio-system: ztunnels /);
  });
});

describe('pickIstiodPod', () => {
  it('prefers a ready pod, then a running one, then by name', () => {
    expect(pickIstiodPod([pod('istiod-b', 'n', false), pod('istiod-c', 'n'), pod('istiod-a', 'n', false, 'Pending')]).name).toBe('istiod-c');
    expect(pickIstiodPod([pod('istiod-b', 'n', false, 'Pending'), pod('istiod-a', 'n', false)]).name).toBe('istiod-a');
  });
  it('none: says where it looked', () => {
    expect(() => pickIstiodPod([])).toThrow('no istiod-lite pod (label app=istiod) in namespace istio-system');
  });
});

it('portForwardError is one line naming the pod, the port and the reason', () => {
  const err = portForwardError({ namespace: 'istio-system', name: 'ztunnel-a9q4m' }, 15000, 'error dialing backend:\n  dial tcp 127.0.0.1:10250: connect: connection refused\n');
  expect(err.code).toBe('MESHCTL_ERR_PORT_FORWARD');
  expect(err.message).toMatch(/^cannot port-forward to pod istio-system\/ztunnel-a9q4m port 15000: error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused \(hint: [^\n]+\)$/);
});
