import { describe, expect, it } from 'vitest';
import { modelOf } from '../testing/model.js';
import { hasIstiodGolden as has, readIstiodGolden as read, workloadStoreOf, type WorkloadGolden } from '../testing/istiod-goldens.js';
import type { RuntimeModel } from '@mesh/ztunnel-plan';
import { aliasesOf, DNS_TTL_SECONDS, planDnsQuestion, type DnsClient, type DnsTable } from './plan.js';
import { dnsClientOf, dnsTableOf } from './table.js';
import { labelsOf, RecordType } from './wire.js';

const table: DnsTable = {
  clusterDomain: 'cluster.local',
  services: new Map([
    ['reviews.default.svc.cluster.local', ['10.77.100.11']],
    ['echo.echo.svc.cluster.local', ['10.77.100.20']],
    ['dual.default.svc.cluster.local', ['10.77.100.30', 'fd00::30']],
  ]),
};
const sleep: DnsClient = { namespace: 'default', workload: 'sleep' };
const q = (name: string, type: number = RecordType.A) => ({ labels: name.split('.').filter(Boolean), type, class: 1 });
const a = (name: string, ip: string, type: number = RecordType.A) => ({ labels: name.split('.'), type, ttl: DNS_TTL_SECONDS, data: ip });
const cname = (from: string, to: string) => ({ labels: from.split('.'), type: RecordType.CNAME, ttl: DNS_TTL_SECONDS, data: to });

describe('planDnsQuestion', () => {
  const cases: Array<{ name: string; question: ReturnType<typeof q>; client?: DnsClient; answer?: unknown[]; forward?: string; service?: string }> = [
    { name: 'short name in the client namespace', question: q('reviews'), client: sleep, answer: [a('reviews', '10.77.100.11')] },
    { name: '<svc>.<ns>', question: q('echo.echo'), client: sleep, answer: [a('echo.echo', '10.77.100.20')] },
    { name: '<svc>.<ns>.svc', question: q('echo.echo.svc'), client: sleep, answer: [a('echo.echo.svc', '10.77.100.20')] },
    { name: 'FQDN', question: q('reviews.default.svc.cluster.local'), client: sleep, answer: [a('reviews.default.svc.cluster.local', '10.77.100.11')] },
    { name: 'FQDN with a trailing dot and mixed case keeps the case', question: q('Reviews.Default.svc.cluster.local.'), client: sleep, answer: [a('Reviews.Default.svc.cluster.local', '10.77.100.11')] },
    {
      name: '<svc>.<ns> expanded by the pod search path: CNAME to the stripped name',
      question: q('echo.echo.default.svc.cluster.local'),
      client: sleep,
      answer: [cname('echo.echo.default.svc.cluster.local', 'echo.echo'), a('echo.echo', '10.77.100.20')],
    },
    {
      name: '<svc>.<ns> expanded with svc.<domain>',
      question: q('echo.echo.svc.svc.cluster.local'),
      client: sleep,
      answer: [cname('echo.echo.svc.svc.cluster.local', 'echo.echo.svc'), a('echo.echo.svc', '10.77.100.20')],
    },
    { name: 'short name of another namespace is not ours', question: q('echo'), client: sleep, forward: 'not a mesh name' },
    { name: 'short name from an unknown source', question: q('reviews'), forward: 'not a mesh name' },
    { name: '<svc>.<ns> from an unknown source', question: q('reviews.default'), answer: [a('reviews.default', '10.77.100.11')] },
    { name: 'AAAA of an IPv4 Service: NOERROR, no records', question: q('reviews', RecordType.AAAA), client: sleep, answer: [] },
    { name: 'AAAA of a dual-stack Service', question: q('dual', RecordType.AAAA), client: sleep, answer: [a('dual', 'fd00::30', RecordType.AAAA)] },
    { name: 'A of a dual-stack Service', question: q('dual'), client: sleep, answer: [a('dual', '10.77.100.30')] },
    { name: 'AAAA through a search expansion: no CNAME either', question: q('reviews.default.default.svc.cluster.local', RecordType.AAAA), client: sleep, answer: [] },
    { name: 'other names go upstream', question: q('example.com'), client: sleep, forward: 'not a mesh name' },
    { name: 'a search-expanded outside name goes upstream', question: q('example.com.default.svc.cluster.local'), client: sleep, forward: 'not a mesh name' },
    { name: 'other record types go upstream', question: q('reviews', RecordType.MX), client: sleep, forward: 'record type' },
    { name: 'other classes go upstream', question: { ...q('reviews'), class: 3 }, client: sleep, forward: 'record type' },
    { name: 'another cluster domain is not ours', question: q('reviews.default.svc.cluster.remote'), client: sleep, forward: 'not a mesh name' },
    { name: 'the root', question: q(''), client: sleep, forward: 'not a mesh name' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planDnsQuestion(table, c.question, c.client);
      if (c.forward) expect(plan).toEqual({ kind: 'forward', reason: c.forward });
      else {
        expect(plan.kind).toBe('answer');
        if (plan.kind === 'answer') expect(plan.records).toEqual(c.answer);
      }
    });
  }

  it('lists the aliases most specific first, as Istio ztunnel does', () => {
    expect(aliasesOf(labelsOf('reviews'), 'cluster.local', 'default').map((x) => x.labels.join('.'))).toEqual(['reviews', 'reviews.default.svc.cluster.local']);
    expect(aliasesOf(labelsOf('a.b.default.svc.cluster.local'), 'cluster.local', 'default').map((x) => x.labels.join('.'))).toEqual([
      'a.b.default.svc.cluster.local',
      'a.b',
      'a.b.svc.cluster.local',
      'a.b.default',
      'a.b.default.svc',
    ]);
  });
});

/** Both dialects, node-a of the bookinfo sample (istiod-lite's goldens, read as data). */
const dialects: Array<{ dialect: string; model: () => RuntimeModel }> = [
  { dialect: 'envoy', model: () => modelOf(read('bookinfo-node-a') as { listeners: unknown[]; clusters: unknown[]; endpoints: unknown[] }) },
  { dialect: 'workload', model: () => workloadStoreOf(read<WorkloadGolden>('workload-bookinfo'), 'node-a').model },
];

describe.each(dialects)('DNS from the $dialect dialect', ({ dialect, model }) => {
  it.skipIf(!has('bookinfo-node-a') || !has('workload-bookinfo'))(`answers bookinfo names for sleep (${dialect})`, () => {
    const m = model();
    const t = dnsTableOf(m, 'cluster.local');
    const client = dnsClientOf(m, '10.77.1.10');
    expect(client).toEqual({ namespace: 'default', workload: 'sleep' });
    const answer = (name: string) => {
      const plan = planDnsQuestion(t, q(name), client);
      return plan.kind === 'answer' ? plan.records.map((r) => r.data) : plan.reason;
    };
    expect(answer('productpage')).toEqual(['10.77.100.10']);
    expect(answer('reviews.default')).toEqual(['10.77.100.11']);
    expect(answer('details.default.svc')).toEqual(['10.77.100.12']);
    expect(answer('ratings.default.svc.cluster.local')).toEqual(['10.77.100.13']);
    expect(answer('echo')).toBe('not a mesh name');
    expect(dnsClientOf(m, '10.77.9.9')).toBeUndefined();
    // The same table object while the listeners stay the same.
    expect(dnsTableOf(m, 'cluster.local')).toBe(t);
  });
});
