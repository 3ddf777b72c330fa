/**
 * Builders for the `filter_chain_matcher` tree (xds.type.matcher.v3.Matcher) of
 * `ztunnel_outbound`: each level reads one input (source IP, destination IP, destination port)
 * and either names a filter chain (a google.protobuf.StringValue action, as in seed 002) or
 * descends into the next level.
 *
 * Every level carries its own `on_no_match`, so a connection that matches a source but not a
 * destination still ends at PassthroughFilterChain rather than depending on fall-back rules.
 */
import { TYPE, cidrFromString, extension, type JsonObject } from './envoy.js';

export type OnMatch = JsonObject;

export const INPUT = {
  sourceIp: extension('source-ip', TYPE.sourceIpInput),
  destinationIp: extension('ip', TYPE.destinationIpInput),
  destinationPort: extension('port', TYPE.destinationPortInput),
} as const;

/** OnMatch that selects the filter chain named `chain`. */
export function selectChain(chain: string): OnMatch {
  return { action: extension(chain, TYPE.stringValue, { value: chain }) };
}

export function nested(matcher: JsonObject): OnMatch {
  return { matcher };
}

/**
 * A matcher_tree with an exact_match_map. Keys are inserted sorted for stable output. The map
 * must not be empty (the proto requires one pair); callers pass `onNoMatch` alone instead.
 */
export function exactMatcher(input: JsonObject, entries: ReadonlyMap<string, OnMatch>, onNoMatch?: OnMatch): JsonObject {
  if (entries.size === 0) throw new Error('exact_match_map needs at least one entry');
  const keys = [...entries.keys()].sort(compareKeys);
  const map: Record<string, OnMatch> = {};
  for (const key of keys) map[key] = entries.get(key) as OnMatch;
  return {
    matcher_tree: { input, exact_match_map: { map } },
    ...(onNoMatch ? { on_no_match: onNoMatch } : {}),
  };
}

/** Exact map when there are entries, else just the fallback. */
export function exactOrFallback(input: JsonObject, entries: ReadonlyMap<string, OnMatch>, onNoMatch: OnMatch): OnMatch {
  return entries.size > 0 ? nested(exactMatcher(input, entries, onNoMatch)) : onNoMatch;
}

/**
 * A matcher_tree whose custom_match is an xds.type.matcher.v3.IPMatcher: the longest matching
 * CIDR range wins. Used for "any pod in these pod CIDRs", which keeps the tree linear in nodes
 * rather than in pods.
 */
export function ipRangeMatcher(input: JsonObject, ranges: readonly string[], onMatch: OnMatch, onNoMatch: OnMatch): JsonObject {
  return {
    matcher_tree: {
      input,
      custom_match: extension('ip-range', TYPE.ipMatcher, {
        range_matchers: [{ ranges: ranges.map(cidrFromString), on_match: onMatch }],
      }),
    },
    on_no_match: onNoMatch,
  };
}

/** Numbers in numeric order, then everything else in string order. */
function compareKeys(a: string, b: string): number {
  const na = /^\d+$/.test(a) ? Number(a) : NaN;
  const nb = /^\d+$/.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
