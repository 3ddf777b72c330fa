import { describe, expect, it } from 'vitest';
import { formatMatch, matcherLeaves, type MatchBranch } from './matcher.js';

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
