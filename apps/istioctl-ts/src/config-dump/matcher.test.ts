import { describe, expect, it } from 'vitest';
import { formatMatch, matcherLeaves, walkMatcher, type MatchBranch } from './matcher.js';

const input = (type: string) => ({ name: type, typed_config: { '@type': `type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.${type}` } });
const action = (chain: string) => ({ action: { name: chain, typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: chain } } });

// The seed-002 shape: port 15001 → black hole; source IP → (exact destination IP → port | destination prefix) → chain.
const MATCHER = {
  matcher_tree: { input: input('DestinationPortInput'), exact_match_map: { map: { '15001': action('BlackHoleCluster') } } },
  on_no_match: {
    matcher: {
      matcher_tree: {
        input: input('SourceIPInput'),
        exact_match_map: {
          map: {
            '10.0.1.5': {
              matcher: {
                matcher_tree: {
                  input: input('DestinationIPInput'),
                  exact_match_map: {
                    map: { '10.0.100.1': { matcher: { matcher_tree: { input: input('DestinationPortInput'), exact_match_map: { map: { '80': action('svc') } } }, on_no_match: action('Passthrough') } } },
                  },
                },
                on_no_match: {
                  matcher: {
                    matcher_tree: { input: input('DestinationIPInput'), prefix_match_map: { map: { '10.0.': action('direct'), '10.0.2.': action('direct-node-b') } } },
                    on_no_match: action('Passthrough'),
                  },
                },
              },
            },
          },
        },
      },
      on_no_match: action('Passthrough'),
    },
  },
};

describe('walkMatcher', () => {
  it.each([
    { name: 'service VIP and port', dst: '10.0.100.1', port: 80, chain: 'svc', taken: ['destination port:no match', 'source IP:exact 10.0.1.5', 'destination IP:exact 10.0.100.1', 'destination port:exact 80'] },
    { name: 'VIP, unknown port', dst: '10.0.100.1', port: 81, chain: 'Passthrough', taken: ['destination port:no match', 'source IP:exact 10.0.1.5', 'destination IP:exact 10.0.100.1', 'destination port:no match'] },
    { name: 'longest prefix wins', dst: '10.0.2.9', port: 80, chain: 'direct-node-b', taken: ['destination port:no match', 'source IP:exact 10.0.1.5', 'destination IP:no match', 'destination IP:prefix 10.0.2.'] },
    { name: 'shorter prefix', dst: '10.0.3.9', port: 80, chain: 'direct', taken: ['destination port:no match', 'source IP:exact 10.0.1.5', 'destination IP:no match', 'destination IP:prefix 10.0.'] },
    { name: 'unknown destination', dst: '192.168.0.1', port: 80, chain: 'Passthrough', taken: ['destination port:no match', 'source IP:exact 10.0.1.5', 'destination IP:no match', 'destination IP:no match'] },
    { name: 'port 15001', dst: '10.0.100.1', port: 15001, chain: 'BlackHoleCluster', taken: ['destination port:exact 15001'] },
  ])('$name → $chain', ({ dst, port, chain, taken }) => {
    const walk = walkMatcher(MATCHER, { sourceIp: '10.0.1.5', destinationIp: dst, destinationPort: port });
    expect(walk.chain).toBe(chain);
    expect(walk.branches.map((b) => `${b.input}:${b.kind}${b.key ? ` ${b.key}` : ''}`)).toEqual(taken);
  });

  it('an uncaptured source takes the root on_no_match', () => {
    expect(walkMatcher(MATCHER, { sourceIp: '10.9.9.9', destinationIp: '10.0.100.1', destinationPort: 80 }).chain).toBe('Passthrough');
  });
});

describe('matcherLeaves + formatMatch', () => {
  it('lists every leaf with a readable MATCH', () => {
    expect(matcherLeaves(MATCHER).map((l) => `${formatMatch(l.branches)} => ${l.chain}`)).toEqual([
      'port 15001 => BlackHoleCluster',
      '10.0.1.5 → 10.0.100.1 → 80 => svc',
      '10.0.1.5 → 10.0.100.1 → * => Passthrough',
      '10.0.1.5 → 10.0.* => direct',
      '10.0.1.5 → 10.0.2.* => direct-node-b',
      '10.0.1.5 → * => Passthrough',
      'ALL => Passthrough',
    ]);
  });

  it('formats a lone on_no_match as ALL', () => {
    const branches: MatchBranch[] = [{ input: 'destination port', kind: 'no match' }];
    expect(formatMatch(branches)).toBe('ALL');
  });
});
