/**
 * Builders for the `filter_chain_matcher` tree (xds.type.matcher.v3.Matcher) of
 * `ztunnel_outbound`: each level reads one input (source IP, destination IP, destination port)
 * and either names a filter chain (a google.protobuf.StringValue action, as Istio's ztunnel config has it) or
 * descends into the next level.
 *
 * Evaluation follows Envoy's rule: when a nested matcher finds nothing and has no on_no_match of
 * its own, the nearest enclosing on_no_match applies ("the most specific on_no_match"). So the
 * per-port maps under each VIP carry no on_no_match (it would repeat once per VIP per source),
 * and the destination-IP and source-IP levels end at PassthroughFilterChain.
 */
import { MeshError } from '@mesh/errors';
import { TYPE, extension, type JsonObject } from './envoy.js';

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
  // A programming error, never input-dependent: callers with possibly empty maps use exactOrFallback.
  if (entries.size === 0) throw new MeshError('XDSGEN_ERR_EMPTY_MATCH_MAP', 'exact_match_map needs at least one entry (the proto requires min_pairs 1)');
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
 * A matcher_tree with a prefix_match_map (longest prefix wins). Used on the destination IP's
 * string form with octet-aligned prefixes ("10.77.1." = 10.77.1.0/24), so "any pod in these pod
 * CIDRs" costs one entry per node, not per pod.
 */
export function prefixMatcher(input: JsonObject, entries: ReadonlyMap<string, OnMatch>, onNoMatch: OnMatch): JsonObject {
  const tree = exactMatcher(input, entries, onNoMatch) as { matcher_tree: { input: JsonObject; exact_match_map: JsonObject } };
  return { matcher_tree: { input, prefix_match_map: tree.matcher_tree.exact_match_map }, on_no_match: onNoMatch };
}

/**
 * The string prefixes that match exactly the IPv4 addresses of `cidr`, for prefix lengths up to
 * 24 (one prefix per octet-aligned block: /24 → "10.77.1.", /23 → two of them). Longer prefixes
 * and IPv6 return undefined: their string prefixes would also match other addresses
 * ("10.0.0.1" is a prefix of "10.0.0.10"), so callers list those addresses exactly.
 */
export function ipv4CidrToPrefixes(cidr: string): string[] | undefined {
  const [ip = '', bitsText] = cidr.split('/');
  const octets = ip.split('.').map(Number);
  const bits = Number(bitsText);
  if (octets.length !== 4 || !Number.isInteger(bits) || bits < 1 || bits > 24) return undefined;
  const whole = Math.ceil(bits / 8); // octets written in each prefix
  const spare = whole * 8 - bits; // bits of the last written octet the CIDR leaves free
  const base = octets.slice(0, whole);
  const last = (base[whole - 1] as number) & ~((1 << spare) - 1) & 0xff;
  const prefixes: string[] = [];
  for (let i = 0; i < 1 << spare; i++) prefixes.push(`${[...base.slice(0, whole - 1), last + i].join('.')}.`);
  return prefixes;
}

/** Numbers in numeric order, then everything else in string order. */
function compareKeys(a: string, b: string): number {
  const na = /^\d+$/.test(a) ? Number(a) : NaN;
  const nb = /^\d+$/.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
