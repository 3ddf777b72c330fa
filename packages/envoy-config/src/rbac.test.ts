import { describe, expect, it } from 'vitest';
import { compileRbacFilter, evaluateRbac, type RbacFilter, type RbacRequest } from './rbac.js';
import { RbacShadowStats, rbacMetadata, shadowLogLine } from './rbac-report.js';

const req = (over: Partial<RbacRequest> = {}): RbacRequest => ({
  peerIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
  sourceIp: '10.77.1.10',
  destinationIp: '10.77.2.13',
  destinationPort: 9080,
  ...over,
});
const filter = (action: string, policies: Record<string, unknown>) => {
  const f = compileRbacFilter({ rules: { action, policies } }, 'rbac');
  if (!f) throw new Error('no filter');
  return f;
};
const policy = (principals: unknown[], permissions: unknown[] = [{ any: true }]) => ({ permissions, principals });

describe('evaluateRbac', () => {
  it('allows when there are no policies', () => {
    expect(evaluateRbac([], req())).toEqual({ allowed: true });
  });
  it('DENY is checked before ALLOW', () => {
    const filters = [filter('ALLOW', { allow: policy([{ any: true }]) }), filter('DENY', { deny: policy([{ any: true }]) })];
    expect(evaluateRbac(filters, req())).toMatchObject({ allowed: false, policy: 'deny' });
  });
  it('an ALLOW filter with no policies allows nothing', () => {
    expect(evaluateRbac([filter('ALLOW', {})], req())).toMatchObject({ allowed: false });
  });
  it.each([
    ['namespaces (safe_regex)', [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }], req(), true],
    ['namespaces, other namespace', [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/prod/.*' } } } }], req(), false],
    ['ipBlocks', [{ direct_remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }], req(), true],
    ['ipBlocks, outside', [{ direct_remote_ip: { address_prefix: '10.77.2.0', prefix_len: 24 } }], req(), false],
    ['notPrincipals', [{ not_id: { authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/sleep' } } } }], req(), false],
    ['authenticated needs mTLS', [{ authenticated: {} }], req({ peerIdentity: undefined }), false],
    ['principal prefix', [{ authenticated: { principal_name: { prefix: 'spiffe://cluster.local/' } } }], req(), true],
  ])('principal: %s', (_n, principals, request, allowed) => {
    expect(evaluateRbac([filter('ALLOW', { p: policy(principals) })], request).allowed).toBe(allowed);
  });
  it.each([
    ['port', [{ destination_port: 9080 }], true],
    ['other port', [{ destination_port: 80 }], false],
    ['port range', [{ destination_port_range: { start: 9000, end: 9100 } }], true],
    ['not port', [{ not_rule: { destination_port: 9080 } }], false],
    ['destination ip', [{ destination_ip: { address_prefix: '10.77.2.13', prefix_len: 32 } }], true],
  ])('permission: %s', (_n, permissions, allowed) => {
    expect(evaluateRbac([filter('ALLOW', { p: policy([{ any: true }], permissions) })], req()).allowed).toBe(allowed);
  });
  it('refuses what it cannot evaluate at L4 (NACK)', () => {
    expect(() => compileRbacFilter({ rules: { policies: { p: policy([{ header: { name: 'x' } }]) } } }, 'f')).toThrow(/f.rules.policies\["p"\].principals\[0\].header: principal header is not supported at L4/);
    expect(() => compileRbacFilter({ rules: { policies: { p: policy([{ any: true }], [{ url_path: {} }]) } } }, 'f')).toThrow(/permission url_path/);
  });
});

const httpFilter = (action: string, policies: Record<string, unknown>) => {
  const f = compileRbacFilter({ rules: { action, policies } }, 'rbac', 'http');
  if (!f) throw new Error('no filter');
  return f;
};
const httpReq = (over: Partial<RbacRequest> = {}): RbacRequest => req({ method: 'GET', path: '/api/v1/items?x=1', authority: 'shop.example.com', headers: {}, ...over });
const matches = (permissions: unknown[], principals: unknown[], request: RbacRequest) =>
  evaluateRbac([httpFilter('DENY', { p: policy(principals, permissions) })], request).allowed === false;

describe('evaluateRbac: the attributes Istio generates for waypoints', () => {
  it.each([
    ['present_match on :method matches any method (Istio methods: ["*"])', [{ header: { name: ':method', present_match: true } }], httpReq({ method: 'PURGE' }), true],
    ['a missing header never matches string_match', [{ header: { name: 'x-user', string_match: { exact: 'a' } } }], httpReq(), false],
    ['present_match on a missing header', [{ header: { name: 'x-user', present_match: true } }], httpReq(), false],
    ['uri_template * is one segment', [uriTemplate('/api/*/items')], httpReq(), true],
    ['uri_template * does not cross "/"', [uriTemplate('/api/*')], httpReq(), false],
    ['uri_template ** spans segments', [uriTemplate('/api/**')], httpReq(), true],
    ['uri_template ** matches nothing after /', [uriTemplate('/api/**')], httpReq({ path: '/api/' }), true],
    ['uri_template trailing "/" is significant', [uriTemplate('/api/*/')], httpReq({ path: '/api/v1' }), false],
    ['url_path ignores the query', [{ url_path: { path: { exact: '/api/v1/items' } } }], httpReq(), true],
    ['requested_server_name against no SNI (empty)', [{ requested_server_name: { safe_regex: { regex: '.+' } } }], httpReq(), false],
    ['requested_server_name', [{ requested_server_name: { suffix: '.example.com' } }], httpReq({ requestedServerName: 'a.example.com' }), true],
  ])('permission: %s', (_n, permissions, request, matched) => {
    expect(matches(permissions, [{ any: true }], request)).toBe(matched);
  });

  const jwt = (claims: Record<string, unknown>) => ({ dynamicMetadata: { 'envoy.filters.http.jwt_authn': { payload: claims } } });
  const claim = (name: string, value: string, invert = false) => ({
    metadata: {
      filter: 'envoy.filters.http.jwt_authn',
      path: [{ key: 'payload' }, { key: name }],
      value: { or_match: { value_matchers: [{ list_match: { one_of: { string_match: { exact: value } } } }, { string_match: { exact: value } }] } },
      ...(invert ? { invert: true } : {}),
    },
  });
  it.each([
    ['a claim with a string value', [claim('iss', 'https://idp')], httpReq(jwt({ iss: 'https://idp' })), true],
    ['a claim with a list value', [claim('groups', 'admin')], httpReq(jwt({ groups: ['dev', 'admin'] })), true],
    ['no JWT: no claim matches', [claim('iss', 'https://idp')], httpReq(), false],
    ['inverted claim without a JWT matches', [claim('iss', 'https://idp', true)], httpReq(), true],
    ['remote_ip defaults to the source address', [{ remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }], httpReq(), true],
    ['remote_ip uses the inferred client address when given', [{ remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }], httpReq({ remoteIp: '203.0.113.9' }), false],
    ['direct_remote_ip ignores the inferred client address', [{ direct_remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }], httpReq({ remoteIp: '203.0.113.9' }), true],
  ])('principal: %s', (_n, principals, request, matched) => {
    expect(matches([{ any: true }], principals, request)).toBe(matched);
  });

  it('refuses JWT metadata and URI templates at L4, and bad templates, with the path (NACK)', () => {
    expect(() => compileRbacFilter({ rules: { policies: { p: policy([claim('iss', 'x')]) } } }, 'f')).toThrow(/principals\[0\]\.metadata: principal metadata is not supported at L4/);
    expect(() => httpFilter('DENY', { p: policy([{ any: true }], [uriTemplate('/a/**/b/*')]) })).toThrow(/no operator may follow "\*\*"/);
  });
});

function uriTemplate(pathTemplate: string) {
  return {
    uri_template: { name: 'uri-template', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig', path_template: pathTemplate } },
  };
}

describe('evaluateRbac: dry-run (shadow rules) and AUDIT (LOG) never change the decision', () => {
  const denySleep = { 'ns[default]-policy[deny-sleep]-rule[0]': policy([{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/sleep' } } }]) };
  const shadowFilter = (action: string, prefix: string, policies: Record<string, unknown>) =>
    compileRbacFilter({ shadow_rules: { action, policies }, shadow_rules_stat_prefix: prefix }, 'rbac') as RbacFilter;

  it('reports a dry-run DENY that matches as "denied" and allows', () => {
    const decision = evaluateRbac([shadowFilter('DENY', 'istio_dry_run_deny_', denySleep)], req());
    expect(decision).toEqual({
      allowed: true,
      shadow: [{ action: 'DENY', statPrefix: 'istio_dry_run_deny_', result: 'denied', policy: 'ns[default]-policy[deny-sleep]-rule[0]' }],
    });
  });

  it('reports a dry-run ALLOW that does not match as "denied", and does not make ALLOW policies exist', () => {
    const decision = evaluateRbac([shadowFilter('ALLOW', 'istio_dry_run_allow_', { p: policy([{ not_id: { any: true } }]) })], req());
    expect(decision).toEqual({ allowed: true, shadow: [{ action: 'ALLOW', statPrefix: 'istio_dry_run_allow_', result: 'denied' }] });
  });

  it('evaluates enforced and dry-run rules of one filter side by side', () => {
    const both = compileRbacFilter({ rules: { action: 'DENY', policies: {} }, shadow_rules: { action: 'DENY', policies: denySleep }, shadow_rules_stat_prefix: 'istio_dry_run_deny_' }, 'rbac') as RbacFilter;
    expect(evaluateRbac([both], req())).toMatchObject({ allowed: true, shadow: [{ result: 'denied' }] });
    expect(evaluateRbac([both], req({ peerIdentity: 'spiffe://cluster.local/ns/default/sa/other' }))).toMatchObject({ allowed: true, shadow: [{ result: 'allowed' }] });
  });

  it('marks a request an AUDIT (LOG) policy matches, whatever the decision', () => {
    const log = filter('LOG', { 'ns[default]-policy[audit]-rule[0]': policy([{ any: true }]) });
    expect(evaluateRbac([log], req())).toEqual({ allowed: true, audit: 'ns[default]-policy[audit]-rule[0]' });
    expect(evaluateRbac([log, filter('ALLOW', {})], req())).toMatchObject({ allowed: false, audit: 'ns[default]-policy[audit]-rule[0]' });
  });

  it('reports dry-run and audit as Envoy dynamic metadata and debug lines', () => {
    const decision = evaluateRbac([shadowFilter('DENY', 'istio_dry_run_deny_', denySleep), filter('LOG', { a: policy([{ any: true }]) })], req());
    expect(rbacMetadata(decision)).toEqual({
      istio_dry_run_deny_shadow_engine_result: 'denied',
      istio_dry_run_deny_shadow_effective_policy_id: 'ns[default]-policy[deny-sleep]-rule[0]',
      access_log_hint: true,
    });
    expect(shadowLogLine(decision.shadow![0]!)).toBe('shadow denied, matched policy ns[default]-policy[deny-sleep]-rule[0]');
  });

  it('counts dry-run results as Istio names them in Prometheus', () => {
    const stats = new RbacShadowStats();
    stats.record('http.inbound-vip|80|http|echo.echo.svc.cluster.local', [{ action: 'DENY', statPrefix: 'istio_dry_run_deny_', result: 'denied' }]);
    stats.record('tcp', [{ action: 'ALLOW', statPrefix: 'istio_dry_run_allow_', result: 'allowed' }]);
    expect(stats.render()).toBe(
      [
        '# TYPE envoy_http_inbound_vip_80_http_echo_echo_svc_cluster_local_rbac counter',
        'envoy_http_inbound_vip_80_http_echo_echo_svc_cluster_local_rbac{authz_dry_run_action="deny",authz_dry_run_result="denied"} 1',
        '# TYPE envoy_tcp_rbac counter',
        'envoy_tcp_rbac{authz_dry_run_action="allow",authz_dry_run_result="allowed"} 1',
        '',
      ].join('\n'),
    );
  });
});
