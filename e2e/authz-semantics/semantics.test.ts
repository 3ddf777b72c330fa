/**
 * The authorization semantics table (cases.yaml): every case's policies are parsed with the
 * table's mesh, built into a snapshot, generated for the proxy that enforces them, compiled by
 * that proxy's own config code and evaluated by its evaluator (engines.ts), and the verdict must
 * be Istio's, as the case's public source says. A case whose policy the parser must refuse names
 * the refusal, and the file's other documents still apply.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildSnapshot, parseManifests, type MeshResource, type Pod, type Service } from '@mesh/mesh-model';
import { envoyDialect, workloadDialect, type AuthzEngine, type HttpFacts } from './engines.js';

interface Case {
  readonly id: string;
  readonly title: string;
  readonly source: string;
  readonly policies?: string;
  readonly refused?: string;
  readonly at: 'ztunnel' | 'waypoint';
  readonly from: string;
  readonly to: string;
  readonly http?: { method?: string; path?: string; host?: string; headers?: Record<string, string> };
  readonly expect: 'allow' | 'deny';
  readonly policy?: string;
  readonly dryRun?: readonly { action: string; result: string; policy?: string }[];
  readonly audit?: string;
}

interface Table {
  readonly mesh: string;
  readonly cases: readonly Case[];
}

const TABLE_FILE = join(import.meta.dirname, 'cases.yaml');
export const TABLE = parse(readFileSync(TABLE_FILE, 'utf8')) as Table;

const mesh = parseManifests(TABLE.mesh, 'cases.yaml#mesh');

function byName<T extends MeshResource>(resources: Iterable<T>, name: string, what: string): T {
  const found = [...resources].filter((r) => r.name === name);
  if (found.length !== 1) throw new Error(`the table's mesh has ${found.length} ${what}s named ${name}`);
  return found[0] as T;
}

/** Runs one case through `engine`; returns nothing, asserts Istio's verdict. */
export function runCase(engine: AuthzEngine, c: Case): void {
  const added = parseManifests(c.policies ?? '', `cases.yaml#${c.id}`);
  if (c.refused) {
    expect(added.errors.map((e) => e.message).join('\n')).toMatch(new RegExp(c.refused.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  } else {
    expect(added.errors).toEqual([]);
  }
  const snapshot = buildSnapshot([...mesh.resources, ...added.resources]);
  const from = byName<Pod>(snapshot.pods.values(), c.from, 'pod');
  const [target = '', portText = ''] = c.to.split(':');
  const port = Number(portText);
  const verdict =
    c.at === 'ztunnel'
      ? engine.ztunnel(snapshot, from, { pod: byName<Pod>(snapshot.pods.values(), target, 'pod'), port })
      : engine.waypoint(snapshot, from, { service: byName<Service>(snapshot.services.values(), target, 'service'), port }, httpFacts(c.http, target));
  expect(verdict.allowed ? 'allow' : 'deny', `${c.title} (source: ${c.source})`).toBe(c.expect);
  if (c.policy !== undefined) expect(verdict.policy && engine.policyName(verdict.policy)).toBe(engine.policyName(c.policy));
  const named = (list: readonly { action: string; result: string; policy?: string | undefined }[]) =>
    list.map(({ action, result, policy }) => ({ action, result, ...(policy ? { policy: engine.policyName(policy) } : {}) }));
  if (c.dryRun !== undefined) expect(named(verdict.shadow ?? [])).toEqual(named(c.dryRun));
  else expect(verdict.shadow).toBeUndefined();
  expect(verdict.audit).toBe(c.audit);
}

function httpFacts(http: Case['http'], service: string): HttpFacts | undefined {
  if (!http) return undefined;
  return { method: http.method ?? 'GET', path: http.path ?? '/', host: http.host ?? `${service}.shop.svc.cluster.local`, headers: http.headers ?? {} };
}

describe('the authorization table', () => {
  it('has its mesh, and at least 100 cases with a source each and unique ids', () => {
    expect(mesh.errors).toEqual([]);
    expect(TABLE.cases.length).toBeGreaterThanOrEqual(100);
    expect(new Set(TABLE.cases.map((c) => c.id)).size).toBe(TABLE.cases.length);
    for (const c of TABLE.cases) expect(c.source, c.id).toBeTruthy();
  });
});

describe(`authorization semantics: ${envoyDialect.name}`, () => {
  it.each(TABLE.cases.map((c) => [`${c.at} ${c.id}: ${c.title}`, c] as const))('%s', (_name, c) => runCase(envoyDialect, c));
});

describe(`authorization semantics: ${workloadDialect.name} (ztunnel cases)`, () => {
  const cases = TABLE.cases.filter((c) => c.at === 'ztunnel');
  it.each(cases.map((c) => [`${c.id}: ${c.title}`, c] as const))('%s', (_name, c) => runCase(workloadDialect, c));
});
