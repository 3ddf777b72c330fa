import { formatMark, type CapturePlan, type IpRulePlan, type IpsetPlan, type RoutePlan } from './plan.js';

/**
 * Renderers: a CapturePlan as the text the kernel tools take (`iptables-restore --noflush`,
 * `ipset restore -exist`, `ip` argv) and as an annotated dump that reads like Istio's
 * `iptables-save` / `ip rule` / `ip route show table 100` listings. All pure.
 *
 * The same line forms are what the tools print back, so `verifyCapturePlan` compares the
 * kernel's listing with `expectedLines(plan)` line by line.
 */

export interface IptablesRestoreOptions {
  /**
   * Include the `-A PREROUTING -j ztunnel-PREROUTING` jumps. With `--noflush` they would be
   * appended again on every restore, so the executor renders without them and inserts each
   * jump only when `iptables -C` says it is absent.
   */
  readonly hooks?: boolean;
}

/** Input for `iptables-restore --noflush`: declaring a chain flushes it, so a restore refills our chains exactly. */
export function renderIptablesRestore(plan: CapturePlan, options: IptablesRestoreOptions = {}): string {
  const lines: string[] = [];
  for (const table of plan.tables) {
    lines.push(`*${table.name}`);
    for (const chain of table.chains) lines.push(`:${chain.name} - [0:0]`);
    if (options.hooks ?? true) for (const hook of table.hooks) lines.push(hookRuleLine(hook.from, hook.to));
    for (const chain of table.chains) for (const rule of chain.rules) lines.push(`-A ${chain.name} ${rule.args.join(' ')}`);
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}

export function hookRuleLine(from: string, to: string): string {
  return `-A ${from} -j ${to}`;
}

/** Temporary set filled and then swapped in, so the live set never appears empty. ≤ 31 chars. */
export function stagingSetName(name: string): string {
  return `${name.slice(0, 27)}-new`;
}

/**
 * Input for `ipset restore -exist`: create (kept if it exists), fill a staging set, swap it
 * in atomically, destroy the staging set. Applying it twice leaves the same members.
 */
export function renderIpsetRestore(plan: CapturePlan): string {
  const lines: string[] = [];
  for (const set of plan.ipsets) {
    const staging = stagingSetName(set.name);
    lines.push(ipsetCreateLine(set.name, set), ipsetCreateLine(staging, set), `flush ${staging}`);
    for (const ip of set.members) lines.push(`add ${staging} ${ip}`);
    lines.push(`swap ${staging} ${set.name}`, `destroy ${staging}`);
  }
  return `${lines.join('\n')}\n`;
}

function ipsetCreateLine(name: string, set: IpsetPlan): string {
  return `create ${name} ${set.type} family ${set.family}`;
}

/** `ip rule add` argv (without the leading `ip`) for one rule. */
export function ipRuleArgs(rule: IpRulePlan, verb: 'add' | 'del'): string[] {
  return ['rule', verb, 'priority', String(rule.priority), 'fwmark', formatMark(rule.fwmark, rule.mask), 'lookup', String(rule.table)];
}

/** `ip route` argv (without the leading `ip`); `replace` is idempotent by itself. */
export function routeArgs(route: RoutePlan, verb: 'replace' | 'del'): string[] {
  return ['route', verb, route.type, route.destination, 'dev', route.dev, 'table', String(route.table)];
}

/** The `ip` commands that install the plan's policy routing, as argv lists. */
export function renderRoutingCommands(plan: CapturePlan): string[][] {
  return [
    ...plan.ipRules.map((rule) => ['ip', ...ipRuleArgs(rule, 'add')]),
    ...plan.routes.map((route) => ['ip', ...routeArgs(route, 'replace')]),
  ];
}

/** How `ip rule show` prints one of our rules. */
export function ipRuleLine(rule: IpRulePlan): string {
  return `${rule.priority}:\tfrom all fwmark ${formatMark(rule.fwmark, rule.mask)} lookup ${rule.table}`;
}

/** How `ip route show table N` prints one of our routes. */
export function routeLine(route: RoutePlan): string {
  return `${route.type} ${route.destination} dev ${route.dev} scope host`;
}

/** Everything the kernel must list once the plan is applied, by the tool that lists it. */
export interface ExpectedLines {
  /** `iptables-save -t <table>` lines that are ours: chain declarations (counters stripped), hooks, rules. */
  readonly iptables: ReadonlyMap<string, readonly string[]>;
  /** `ipset save <set>` lines. */
  readonly ipsets: ReadonlyMap<string, readonly string[]>;
  readonly ipRules: readonly string[];
  /** `ip route show table N` lines per table. */
  readonly routes: ReadonlyMap<number, readonly string[]>;
}

export function expectedLines(plan: CapturePlan): ExpectedLines {
  const iptables = new Map<string, string[]>();
  for (const table of plan.tables) {
    iptables.set(table.name, [
      ...table.chains.map((chain) => `:${chain.name} -`),
      ...table.hooks.map((hook) => hookRuleLine(hook.from, hook.to)),
      ...table.chains.flatMap((chain) => chain.rules.map((rule) => `-A ${chain.name} ${rule.args.join(' ')}`)),
    ]);
  }
  const ipsets = new Map<string, string[]>();
  for (const set of plan.ipsets) {
    ipsets.set(set.name, [ipsetCreateLine(set.name, set), ...set.members.map((ip) => `add ${set.name} ${ip}`)]);
  }
  const routes = new Map<number, string[]>();
  for (const route of plan.routes) routes.set(route.table, [...(routes.get(route.table) ?? []), routeLine(route)]);
  return { iptables, ipsets, ipRules: plan.ipRules.map(ipRuleLine), routes };
}

const BUILTIN_CHAINS: Readonly<Record<string, readonly string[]>> = {
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
};

const TABLE_COMMENTS: Readonly<Record<string, string>> = {
  mangle: 'the mangle table: TPROXY is only valid here',
  nat: 'the nat table: DNAT, so conntrack rewrites the answers back',
};

/** Lines longer than this get their comment right after them instead of in the column. */
const ANNOTATION_COLUMN_MAX = 60;

/** Pads each `[line, comment]` so the `#` comments of short lines line up in one column. */
function annotate(rows: ReadonlyArray<readonly [string, string?]>): string[] {
  const short = rows.filter(([line, comment]) => comment && line.length <= ANNOTATION_COLUMN_MAX);
  const width = Math.max(0, ...short.map(([line]) => line.length));
  return rows.map(([line, comment]) => (comment ? `${line.padEnd(width)}  # ${comment}` : line));
}

/**
 * The plan as an operator would see it on the node, every line explained. Shaped like the
 * listings of Istio's ztunnel pod so the two can be read side by side.
 */
export function renderAnnotatedDump(plan: CapturePlan): string {
  const sections: string[][] = [];
  for (const set of plan.ipsets) {
    sections.push([
      `$ ipset save ${set.name}`,
      ...annotate([
        [ipsetCreateLine(set.name, set), `${set.comment}; TPROXY rules match it as src (outbound) or dst (inbound)`],
        ...set.members.map((ip) => [`add ${set.name} ${ip}`, 'captured pod'] as const),
      ]),
    ]);
  }
  for (const table of plan.tables) {
    const rows: Array<readonly [string, string?]> = [[`*${table.name}`, TABLE_COMMENTS[table.name] ?? `the ${table.name} table`]];
    for (const builtin of BUILTIN_CHAINS[table.name] ?? []) rows.push([`:${builtin} ACCEPT [0:0]`]);
    for (const chain of table.chains) rows.push([`:${chain.name} - [0:0]`, chain.comment]);
    for (const hook of table.hooks) rows.push([hookRuleLine(hook.from, hook.to), hook.comment]);
    for (const chain of table.chains) for (const rule of chain.rules) rows.push([`-A ${chain.name} ${rule.args.join(' ')}`, rule.comment]);
    rows.push(['COMMIT']);
    sections.push([`$ iptables-save -t ${table.name}`, ...annotate(rows)]);
  }
  sections.push([
    '$ ip rule',
    ...annotate([
      ['0:      from all lookup local', 'kernel default: local addresses first'],
      ...plan.ipRules.map((rule) => [ipRuleLine(rule).replace('\t', ' '.repeat(Math.max(1, 8 - `${rule.priority}:`.length))), rule.comment] as const),
      ['32766:  from all lookup main', 'kernel default'],
      ['32767:  from all lookup default', 'kernel default'],
    ]),
  ]);
  for (const table of new Set(plan.routes.map((route) => route.table))) {
    sections.push([
      `$ ip route show table ${table}`,
      ...annotate(plan.routes.filter((route) => route.table === table).map((route) => [routeLine(route), route.comment] as const)),
    ]);
  }
  return `${sections.map((section) => section.join('\n')).join('\n\n')}\n`;
}
