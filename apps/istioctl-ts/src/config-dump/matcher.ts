/**
 * Envoy's `filter_chain_matcher` (xds.type.matcher.v3.Matcher) as ztunnel_outbound uses it
 * (docs/model.md): a tree of source IP → destination IP → destination port maps whose leaves name a
 * filter chain. A pure view of it: every leaf with the branches leading to it (the listener
 * table's MATCH column). The walk one connection takes is ztunnel's own (`x explain` runs
 * @mesh/ztunnel-plan's matcher with a trace).
 */
import { rec, records, shortType, str, type JsonRecord } from './json.js';

export type MatchInput = 'source IP' | 'destination IP' | 'destination port' | 'server name' | 'transport protocol' | 'application protocol' | string;

/** One branch: which input was looked at and which entry (or on_no_match) was taken. */
export interface MatchBranch {
  input: MatchInput;
  /** `exact` and `prefix` name the map key taken; `no match` is the matcher's on_no_match. */
  kind: 'exact' | 'prefix' | 'no match';
  key?: string;
}

export interface MatcherLeaf {
  branches: MatchBranch[];
  /** The filter chain name the leaf's action selects. */
  chain: string;
}

/** The inputs ztunnel's matcher reads, by the `@type` of the input's typed_config. */
const INPUTS: Record<string, MatchInput> = {
  SourceIPInput: 'source IP',
  DestinationIPInput: 'destination IP',
  DestinationPortInput: 'destination port',
  ServerNameInput: 'server name',
  TransportProtocolInput: 'transport protocol',
  ApplicationProtocolInput: 'application protocol',
};

function inputOf(tree: JsonRecord): MatchInput {
  const input = rec(tree['input']);
  const type = shortType(rec(input['typed_config'])['@type']);
  return (type && INPUTS[type]) ?? str(input['name']) ?? 'unknown input';
}

/** The filter chain an OnMatch action names (a StringValue), or undefined for a nested matcher. */
function actionChain(onMatch: JsonRecord): string | undefined {
  const action = onMatch['action'];
  if (action === undefined) return undefined;
  const a = rec(action);
  return str(rec(a['typed_config'])['value']) ?? str(a['name']) ?? '';
}

function mapEntries(tree: JsonRecord, kind: 'exact' | 'prefix'): [string, JsonRecord][] {
  const map = rec(rec(tree[kind === 'exact' ? 'exact_match_map' : 'prefix_match_map'])['map']);
  return Object.entries(map).map(([key, value]) => [key, rec(value)]);
}

/** Every leaf of the matcher, depth first in map order, each with the branches that reach it. */
export function matcherLeaves(matcher: JsonRecord): MatcherLeaf[] {
  const leaves: MatcherLeaf[] = [];
  const visitOnMatch = (onMatch: JsonRecord, branches: MatchBranch[]) => {
    const chain = actionChain(onMatch);
    if (chain !== undefined) leaves.push({ branches, chain });
    else if (onMatch['matcher'] !== undefined) visitMatcher(rec(onMatch['matcher']), branches);
  };
  const visitMatcher = (m: JsonRecord, branches: MatchBranch[]) => {
    const tree = rec(m['matcher_tree']);
    const input = inputOf(tree);
    for (const kind of ['exact', 'prefix'] as const) {
      for (const [key, onMatch] of mapEntries(tree, kind)) visitOnMatch(onMatch, [...branches, { input, kind, key }]);
    }
    if (m['on_no_match'] !== undefined) visitOnMatch(rec(m['on_no_match']), [...branches, { input, kind: 'no match' }]);
  };
  visitMatcher(matcher, []);
  return leaves;
}

/** `10.77.1.11 → 10.77.100.11 → 9080`: the leaf's branches after the root's special cases. */
export function formatMatch(branches: readonly MatchBranch[]): string {
  // Leading on_no_match branches only say "not one of the special cases above" (e.g. not port
  // 15001); the branches after them are what the leaf actually matches.
  const firstTaken = branches.findIndex((b) => b.kind !== 'no match');
  if (firstTaken === -1) return 'ALL';
  // A no-match on an input followed by another map over the same input (exact IPs, then IP
  // prefixes) is one decision for the reader: show only the second.
  const shown = branches.slice(firstTaken).filter((b, i, all) => !(b.kind === 'no match' && all[i + 1]?.input === b.input));
  const labelled = shown[0]?.input !== 'source IP';
  return shown
    .map((b) => {
      const key = b.kind === 'exact' ? b.key! : b.kind === 'prefix' ? `${b.key}*` : '*';
      return labelled ? `${abbreviation(b.input)} ${key}` : key;
    })
    .join(' → ');
}

function abbreviation(input: MatchInput): string {
  return input === 'source IP' ? 'src' : input === 'destination IP' ? 'dst' : input === 'destination port' ? 'port' : input;
}

export function filterChainsByName(listener: JsonRecord): Map<string, JsonRecord> {
  return new Map(records(listener['filter_chains']).map((chain) => [str(chain['name']) ?? '', chain]));
}
