import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { getJson } from './http.js';
import { describeRoute, formatRoute, parseRoute } from './routes.js';

describe('routes: how meshctl gets to an admin or debug API', () => {
  it.each([
    ['127.0.0.1:15000', { kind: 'tcp', host: '127.0.0.1', port: 15000 }, '127.0.0.1:15000'],
    ['http://10.77.0.2:15014/', { kind: 'tcp', host: '10.77.0.2', port: 15014 }, '10.77.0.2:15014'],
    ['[::1]:15000', { kind: 'tcp', host: '::1', port: 15000 }, '[::1]:15000'],
    ['unix:/var/run/ztunnel/admin.sock', { kind: 'unix', path: '/var/run/ztunnel/admin.sock' }, 'unix:/var/run/ztunnel/admin.sock'],
    ['netns:mdev-n-node-a/127.0.0.1:15000', { kind: 'netns', netns: 'mdev-n-node-a', host: '127.0.0.1', port: 15000 }, '127.0.0.1:15000 in network namespace mdev-n-node-a'],
    ['netns:/proc/42/ns/net/127.0.0.1:15000', { kind: 'netns', netns: '/proc/42/ns/net', host: '127.0.0.1', port: 15000 }, '127.0.0.1:15000 in network namespace /proc/42/ns/net'],
    ['pod:istio-system/ztunnel-a9q4m:15000', { kind: 'pod', namespace: 'istio-system', name: 'ztunnel-a9q4m', port: 15000 }, 'port 15000 of pod istio-system/ztunnel-a9q4m (port-forward)'],
  ])('%s', (text, route, described) => {
    expect(parseRoute(text)).toEqual(route);
    expect(describeRoute(parseRoute(text))).toBe(described);
    expect(parseRoute(formatRoute(parseRoute(text)))).toEqual(route);
  });

  it.each(['nohost', '10.0.0.1:0', '10.0.0.1:70000', 'unix:relative.sock', 'netns:127.0.0.1:15000', 'netns:/x/', 'pod:istio-system/ztunnel', 'pod:ztunnel:15000'])('refuses %s, saying which forms there are', (text) => {
    let error: unknown;
    try {
      parseRoute(text);
    } catch (err) {
      error = err;
    }
    expect(hasCode(error, 'MESHCTL_ERR_BAD_ADDRESS')).toBe(true);
  });

  it('reads JSON over a Unix socket, and says when there is none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-route-'));
    const path = join(dir, 'admin.sock');
    const server = createServer((_req, res) => res.end('{"ok":true}'));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const options = { timeoutMs: 2_000, what: 'ztunnel-node-a\'s admin API', hint: 'h' };
      expect(await getJson(`unix:${path}`, '/config_dump', options)).toEqual({ ok: true });
      const error = await getJson(`unix:${dir}/missing.sock`, '/config_dump', options).catch((err: unknown) => err);
      expect(String(error)).toContain(`cannot reach ztunnel-node-a's admin API at unix:${dir}/missing.sock (no such socket)`);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
