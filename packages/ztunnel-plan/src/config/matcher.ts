/**
 * `filter_chain_matcher` (xds.type.matcher.v3.Matcher) → a lookup function. ztunnel's outbound
 * listener is a tree source IP → destination IP → destination port → filter-chain name (docs/model.md
 * "ztunnel_outbound 监听器"); every level may carry `on_no_match`. Supported: `matcher_tree` with
 * `exact_match_map` or an IPMatcher `custom_match` (longest prefix wins), inputs SourceIPInput,
 * DestinationIPInput, DestinationPortInput, and StringValue actions naming a filter chain.
 * Anything else is refused with its path.
 */
import { type Cidr, cidrContains, cidrRange, list, normalizeIp, record, string, typedConfig, UnsupportedConfig } from '@mesh/envoy-config';

export interface MatchInput {
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

/** One branch the lookup took: the input read, its value, and the entry (or on_no_match) taken. */
export interface MatchBranch {
  readonly input: 'source IP' | 'destination IP' | 'destination port';
  readonly value: string;
  /** `exact`: a map key; `prefix`: a string prefix or an IPMatcher CIDR; `no match`: on_no_match. */
  readonly kind: 'exact' | 'prefix' | 'no match';
  readonly key?: string;
}

/**
 * Returns the selected filter-chain name, or undefined when nothing matched (and no fallback).
 * With `taken`, the branches that led to the chain are appended to it (dead ends are removed),
 * for explanations; without it nothing is recorded.
 */
export type ChainLookup = (input: MatchInput, taken?: MatchBranch[]) => string | undefined;

const INPUT_PREFIX = 'envoy.extensions.matching.common_inputs.network.v3.';
const INPUTS: Record<string, (input: MatchInput) => string> = {
  [`${INPUT_PREFIX}SourceIPInput`]: (i) => normalizeIp(i.sourceIp),
  [`${INPUT_PREFIX}DestinationIPInput`]: (i) => normalizeIp(i.destinationIp),
  [`${INPUT_PREFIX}DestinationPortInput`]: (i) => String(i.destinationPort),
};
const INPUT_LABELS: Record<string, MatchBranch['input']> = {
  [`${INPUT_PREFIX}SourceIPInput`]: 'source IP',
  [`${INPUT_PREFIX}DestinationIPInput`]: 'destination IP',
  [`${INPUT_PREFIX}DestinationPortInput`]: 'destination port',
};
const IP_INPUTS = new Set([`${INPUT_PREFIX}SourceIPInput`, `${INPUT_PREFIX}DestinationIPInput`]);
const STRING_VALUE = 'google.protobuf.StringValue';
const IP_MATCHER = 'xds.type.matcher.v3.IPMatcher';

/** Compiles a matcher; `chainNames` collects every chain an action names, for validation. */
export function compileMatcher(matcher: unknown, path: string, chainNames: Set<string>): ChainLookup {
  const m = record(matcher, path);
  if (m['matcher_list'] !== undefined) throw new UnsupportedConfig(`${path}.matcher_list`, 'matcher_list is not supported; use matcher_tree');
  const onNoMatch = m['on_no_match'] === undefined ? undefined : compileOnMatch(m['on_no_match'], `${path}.on_no_match`, chainNames);
  const tree = record(m['matcher_tree'], `${path}.matcher_tree`);
  const inputPath = `${path}.matcher_tree.input`;
  const { type: inputType } = typedConfig(tree['input'], inputPath);
  const read = INPUTS[inputType];
  const label = INPUT_LABELS[inputType];
  if (!read || !label) throw new UnsupportedConfig(inputPath, `input ${inputType} is not supported`);
  let lookup: ChainLookup;
  if (tree['exact_match_map'] !== undefined) {
    const mapPath = `${path}.matcher_tree.exact_match_map.map`;
    const map = record(record(tree['exact_match_map'], `${path}.matcher_tree.exact_match_map`)['map'], mapPath);
    const entries = new Map<string, ChainLookup>();
    for (const [key, onMatch] of Object.entries(map)) {
      entries.set(IP_INPUTS.has(inputType) ? normalizeIp(key) : key, compileOnMatch(onMatch, `${mapPath}["${key}"]`, chainNames));
    }
    lookup = (input, taken) => {
      const value = read(input);
      const entry = entries.get(value);
      return entry && branch(taken, { input: label, value, kind: 'exact', key: value }, () => entry(input, taken));
    };
  } else if (tree['prefix_match_map'] !== undefined) {
    // Longest string prefix first; a prefix whose sub-matcher finds nothing falls through to shorter ones.
    const mapPath = `${path}.matcher_tree.prefix_match_map.map`;
    const map = record(record(tree['prefix_match_map'], `${path}.matcher_tree.prefix_match_map`)['map'], mapPath);
    const entries = Object.entries(map)
      .map(([prefix, onMatch]) => ({ prefix, lookup: compileOnMatch(onMatch, `${mapPath}["${prefix}"]`, chainNames) }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
    lookup = (input, taken) => {
      const value = read(input);
      for (const entry of entries) {
        if (!value.startsWith(entry.prefix)) continue;
        const chain = branch(taken, { input: label, value, kind: 'prefix', key: entry.prefix }, () => entry.lookup(input, taken));
        if (chain !== undefined) return chain;
      }
      return undefined;
    };
  } else if (tree['custom_match'] !== undefined) {
    if (!IP_INPUTS.has(inputType)) throw new UnsupportedConfig(inputPath, 'an IPMatcher needs an IP input');
    lookup = compileIpMatcher(tree['custom_match'], `${path}.matcher_tree.custom_match`, read, label, chainNames);
  } else {
    throw new UnsupportedConfig(`${path}.matcher_tree`, 'only exact_match_map, prefix_match_map and custom_match (IPMatcher) are supported');
  }
  // Envoy: when a sub-matcher finds nothing, this level's on_no_match applies.
  return onNoMatch ? (input, taken) => lookup(input, taken) ?? branch(taken, { input: label, value: read(input), kind: 'no match' }, () => onNoMatch(input, taken)) : lookup;
}

/** Records `step` in `taken` around `next`, and takes it back when `next` finds no chain (a dead end). */
function branch(taken: MatchBranch[] | undefined, step: MatchBranch, next: () => string | undefined): string | undefined {
  if (!taken) return next();
  const mark = taken.length;
  taken.push(step);
  const chain = next();
  if (chain === undefined) taken.length = mark;
  return chain;
}

function compileOnMatch(onMatch: unknown, path: string, chainNames: Set<string>): ChainLookup {
  const o = record(onMatch, path);
  if (o['matcher'] !== undefined) return compileMatcher(o['matcher'], `${path}.matcher`, chainNames);
  const { type, config } = typedConfig(o['action'], `${path}.action`);
  if (type !== STRING_VALUE) throw new UnsupportedConfig(`${path}.action`, `action ${type} is not supported; expected a StringValue naming a filter chain`);
  const chain = string(config['value'], `${path}.action.typed_config.value`);
  chainNames.add(chain);
  return () => chain;
}

function compileIpMatcher(custom: unknown, path: string, read: (i: MatchInput) => string, label: MatchBranch['input'], chainNames: Set<string>): ChainLookup {
  const { type, config } = typedConfig(custom, path);
  if (type !== IP_MATCHER) throw new UnsupportedConfig(path, `custom_match ${type} is not supported`);
  const ranges: Array<{ cidr: Cidr; key: string; onMatch: ChainLookup }> = [];
  list(config['range_matchers'], `${path}.range_matchers`).forEach((rm, i) => {
    const rmPath = `${path}.range_matchers[${i}]`;
    const r = record(rm, rmPath);
    if (r['exclude'] === true) throw new UnsupportedConfig(`${rmPath}.exclude`, 'exclude is not supported');
    const onMatch = compileOnMatch(r['on_match'], `${rmPath}.on_match`, chainNames);
    list(r['ranges'], `${rmPath}.ranges`).forEach((range, j) => {
      const rr = record(range, `${rmPath}.ranges[${j}]`);
      ranges.push({ cidr: cidrRange(range, `${rmPath}.ranges[${j}]`), key: `${String(rr['address_prefix'])}/${String(rr['prefix_len'] ?? '')}`, onMatch });
    });
  });
  ranges.sort((a, b) => b.cidr.prefixLen - a.cidr.prefixLen);
  return (input, taken) => {
    const ip = read(input);
    // Longest prefix first; a range whose sub-matcher finds nothing falls through to shorter ones.
    for (const range of ranges) {
      if (!cidrContains(range.cidr, ip)) continue;
      const chain = branch(taken, { input: label, value: ip, kind: 'prefix', key: range.key }, () => range.onMatch(input, taken));
      if (chain !== undefined) return chain;
    }
    return undefined;
  };
}

/** envoy.config.core.v3.CidrRange / xds.core.v3.CidrRange. */

