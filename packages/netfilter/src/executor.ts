import { MeshError } from '@mesh/errors';
import { createCommandRunner, runChecked, type CommandRunner } from './command-runner.js';
import type { CapturePlan } from './plan.js';
import {
  expectedLines,
  ipRuleArgs,
  renderIpsetRestore,
  renderIptablesRestore,
  routeArgs,
  stagingSetName,
} from './render.js';

/**
 * Applies, verifies and removes a CapturePlan inside one network namespace.
 *
 * Invariants: apply is idempotent (our chains are declared and so flushed by every restore,
 * the ipset is refilled through an atomic swap, jumps and `ip rule`s are added only when
 * absent, routes use `replace`); remove deletes only what the plan names and tolerates any of
 * it being gone already; nothing here touches a namespace other than `netns`.
 */

/**
 * Which iptables front end writes the rules. Both work for TPROXY in a namespace on this
 * kernel (see README); the nft one is Debian's default and needs no legacy x_tables modules.
 * Apply, verify and remove must use the same one: each only sees its own rules.
 */
export type IptablesVariant = 'iptables-nft' | 'iptables-legacy' | 'iptables';

export const DEFAULT_IPTABLES_VARIANT: IptablesVariant = 'iptables-nft';

export interface ExecutorOptions {
  /** Network namespace (as in `ip netns list`). Required: the executor never works on the caller's own namespace. */
  readonly netns: string;
  readonly exec?: CommandRunner;
  readonly iptables?: IptablesVariant;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Expected lines the kernel does not list, prefixed by where they belong (`ip rule: …`). */
  readonly missing: string[];
  /** Lines of ours the plan does not contain (stale members, duplicate jumps, old rules). */
  readonly extra: string[];
}

/** Upper bound on deleting one duplicated jump or rule; a real namespace has at most a few. */
const MAX_DUPLICATE_DELETES = 32;

function context(options: ExecutorOptions) {
  if (!options.netns) {
    throw new MeshError('NETFILTER_ERR_NO_NETNS', 'a capture plan is applied inside a named network namespace', {
      hint: 'pass { netns } — the executor refuses to change the namespace it runs in',
    });
  }
  const runner = options.exec ?? createCommandRunner();
  const iptables = options.iptables ?? DEFAULT_IPTABLES_VARIANT;
  const netns = options.netns;
  return {
    netns,
    iptables,
    run: (argv: readonly string[], input?: string) => runner.run({ argv, netns, ...(input === undefined ? {} : { input }) }),
    check: (argv: readonly string[], input?: string) => runChecked(runner, { argv, netns, ...(input === undefined ? {} : { input }) }),
  };
}

export async function applyCapturePlan(plan: CapturePlan, options: ExecutorOptions): Promise<void> {
  const ctx = context(options);
  // The set first: iptables-restore refuses a rule naming a set that does not exist.
  await ctx.check(['ipset', 'restore', '-exist'], renderIpsetRestore(plan));
  await ctx.check([`${ctx.iptables}-restore`, '-w', '--noflush'], renderIptablesRestore(plan, { hooks: false }));
  for (const table of plan.tables) {
    for (const hook of table.hooks) {
      const present = await ctx.run([ctx.iptables, '-w', '-t', table.name, '-C', hook.from, '-j', hook.to]);
      if (present.exitCode !== 0) await ctx.check([ctx.iptables, '-w', '-t', table.name, '-I', hook.from, '1', '-j', hook.to]);
    }
  }
  const rulesNow = normaliseLines((await ctx.check(['ip', 'rule', 'show'])).stdout);
  const expected = expectedLines(plan);
  for (const [index, rule] of plan.ipRules.entries()) {
    const line = normaliseLine(expected.ipRules[index] ?? '');
    if (!rulesNow.includes(line)) await ctx.check(['ip', ...ipRuleArgs(rule, 'add')]);
  }
  for (const route of plan.routes) await ctx.check(['ip', ...routeArgs(route, 'replace')]);
}

export async function removeCapturePlan(plan: CapturePlan, options: ExecutorOptions): Promise<void> {
  const ctx = context(options);
  for (const table of plan.tables) {
    for (const hook of table.hooks) {
      for (let i = 0; i < MAX_DUPLICATE_DELETES; i++) {
        if ((await ctx.run([ctx.iptables, '-w', '-t', table.name, '-D', hook.from, '-j', hook.to])).exitCode !== 0) break;
      }
    }
    // Flush every chain before deleting any, in case one of ours ever jumps to another.
    for (const chain of table.chains) await ctx.run([ctx.iptables, '-w', '-t', table.name, '-F', chain.name]);
    for (const chain of table.chains) await ctx.run([ctx.iptables, '-w', '-t', table.name, '-X', chain.name]);
  }
  // After the rules: a set that a rule still references cannot be destroyed.
  for (const set of plan.ipsets) {
    await ctx.run(['ipset', 'destroy', stagingSetName(set.name)]);
    await ctx.run(['ipset', 'destroy', set.name]);
  }
  for (const rule of plan.ipRules) {
    for (let i = 0; i < MAX_DUPLICATE_DELETES; i++) {
      if ((await ctx.run(['ip', ...ipRuleArgs(rule, 'del')])).exitCode !== 0) break;
    }
  }
  for (const route of plan.routes) await ctx.run(['ip', ...routeArgs(route, 'del')]);
  const left = await verifyCapturePlan(plan, options);
  if (left.extra.length > 0 || left.missing.length < countExpected(plan)) {
    throw new MeshError('NETFILTER_ERR_REMOVE_INCOMPLETE', `capture plan still partly present in netns ${ctx.netns}`, {
      context: { netns: ctx.netns, left: [...left.extra, ...diffPresent(plan, left)] },
    });
  }
}

function countExpected(plan: CapturePlan): number {
  const expected = expectedLines(plan);
  let count = expected.ipRules.length;
  for (const lines of expected.iptables.values()) count += lines.length;
  for (const lines of expected.ipsets.values()) count += lines.length;
  for (const lines of expected.routes.values()) count += lines.length;
  return count;
}

/** Expected lines that verify did not report missing, i.e. still present. */
function diffPresent(plan: CapturePlan, result: VerifyResult): string[] {
  const missing = new Set(result.missing);
  return labelledExpected(plan).filter((line) => !missing.has(line));
}

function labelledExpected(plan: CapturePlan): string[] {
  const expected = expectedLines(plan);
  return [
    ...[...expected.iptables].flatMap(([table, lines]) => lines.map((line) => `iptables ${table}: ${line}`)),
    ...[...expected.ipsets].flatMap(([set, lines]) => lines.map((line) => `ipset ${set}: ${line}`)),
    ...expected.ipRules.map((line) => `ip rule: ${normaliseLine(line)}`),
    ...[...expected.routes].flatMap(([table, lines]) => lines.map((line) => `ip route table ${table}: ${line}`)),
  ];
}

function normaliseLine(line: string): string {
  return line.trim().replace(/\s+/g, ' ');
}

function normaliseLines(text: string): string[] {
  return text.split('\n').map(normaliseLine).filter((line) => line.length > 0);
}

/** Multiset difference: what `want` has that `have` lacks, counting duplicates. */
function multisetMinus(want: readonly string[], have: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const line of have) counts.set(line, (counts.get(line) ?? 0) + 1);
  const out: string[] = [];
  for (const line of want) {
    const n = counts.get(line) ?? 0;
    if (n > 0) counts.set(line, n - 1);
    else out.push(line);
  }
  return out;
}

/** Reads the namespace back with the listing tools and compares with the plan, line by line. */
export async function verifyCapturePlan(plan: CapturePlan, options: ExecutorOptions): Promise<VerifyResult> {
  const ctx = context(options);
  const expected = expectedLines(plan);
  const missing: string[] = [];
  const extra: string[] = [];
  const compare = (label: string, want: readonly string[], have: readonly string[]) => {
    missing.push(...multisetMinus(want, have).map((line) => `${label}: ${line}`));
    extra.push(...multisetMinus(have, want).map((line) => `${label}: ${line}`));
  };

  for (const table of plan.tables) {
    const ours = new Set(table.chains.map((chain) => chain.name));
    const saved = await ctx.check([`${ctx.iptables}-save`, '-t', table.name]);
    const have: string[] = [];
    for (const line of normaliseLines(saved.stdout)) {
      const declared = /^:(\S+) /.exec(line)?.[1];
      const appended = /^-A (\S+) (.*)$/.exec(line);
      const jumpTarget = appended ? /(?:^| )-j (\S+)$/.exec(appended[2] ?? '')?.[1] : undefined;
      if (declared && ours.has(declared)) have.push(`:${declared} -`);
      else if (appended && (ours.has(appended[1] ?? '') || (jumpTarget !== undefined && ours.has(jumpTarget)))) have.push(line);
    }
    const want = expected.iptables.get(table.name) ?? [];
    compare(`iptables ${table.name}`, want, have);
    for (const chain of table.chains) {
      const prefix = `-A ${chain.name} `;
      const wantOrder = want.filter((line) => line.startsWith(prefix));
      const haveOrder = have.filter((line) => line.startsWith(prefix));
      if (multisetMinus(wantOrder, haveOrder).length === 0 && wantOrder.join('\n') !== haveOrder.join('\n')) {
        missing.push(`iptables ${table.name}: rules of ${chain.name} in plan order`);
      }
    }
  }

  for (const set of plan.ipsets) {
    const want = expected.ipsets.get(set.name) ?? [];
    const saved = await ctx.run(['ipset', 'save', set.name]);
    // `ipset save` adds hashsize/maxelem/initval to the create line: compare its prefix.
    const have = saved.exitCode === 0
      ? normaliseLines(saved.stdout).map((line) => (line.startsWith('create ') && want[0] && line.startsWith(want[0]) ? want[0] : line))
      : [];
    compare(`ipset ${set.name}`, want, have);
  }

  const tables = new Set([...plan.ipRules.map((rule) => rule.table), ...plan.routes.map((route) => route.table)]);
  const marks = new Set(plan.ipRules.map((rule) => `fwmark 0x${rule.fwmark.toString(16)}/`));
  const ruleLines = normaliseLines((await ctx.check(['ip', 'rule', 'show'])).stdout).filter((line) =>
    [...tables].some((table) => line.endsWith(` lookup ${table}`)) || [...marks].some((mark) => line.includes(mark)),
  );
  compare('ip rule', expected.ipRules.map(normaliseLine), ruleLines);

  for (const table of tables) {
    const listed = await ctx.run(['ip', 'route', 'show', 'table', String(table)]);
    compare(`ip route table ${table}`, expected.routes.get(table) ?? [], listed.exitCode === 0 ? normaliseLines(listed.stdout) : []);
  }
  return { ok: missing.length === 0 && extra.length === 0, missing, extra };
}
