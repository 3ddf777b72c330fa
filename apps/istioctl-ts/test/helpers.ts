/** Test helpers: the saved config dumps of the bookinfo mesh (see fixtures/generate.mjs). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigDump, type ConfigDump } from '../src/config-dump/config-dump.js';

export type FixtureName = 'bookinfo-node-a' | 'bookinfo-node-b' | 'allow-node-a' | 'deny-node-b';

export function fixturePath(name: FixtureName): string {
  return fileURLToPath(new URL(`./fixtures/${name}.config_dump.json`, import.meta.url));
}

export function fixtureJson(name: FixtureName): { configs: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as { configs: Record<string, unknown>[] };
}

export function fixtureDump(name: FixtureName): ConfigDump {
  return parseConfigDump(fixtureJson(name), name);
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runMeshctl, type ProgramDeps } from '../src/program.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs meshctl in-process with string sinks (not a TTY, like a pipe). */
export async function runCli(args: readonly string[], deps: Partial<ProgramDeps> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runMeshctl(args, {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env: {},
    ...deps,
  });
  return { code, stdout, stderr };
}

/**
 * Splits a rendered table into rows of cells (columns are separated by 2+ spaces); a line that
 * starts with spaces continues the row above (a cell wider than its column stands on its own line).
 */
export function tableRows(text: string): string[][] {
  const rows: string[][] = [];
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith(' ') && rows.length > 0) rows[rows.length - 1]!.push(...line.trim().split(/\s{2,}/));
    else rows.push(line.split(/\s{2,}/));
  }
  return rows;
}

export type Route = (req: IncomingMessage, url: URL) => { status?: number; body: unknown } | 'hang' | undefined;

/** A tiny real HTTP server answering JSON from `route`; `hang` never answers (for timeouts). */
export async function startJsonServer(route: Route): Promise<{ server: Server; address: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://test');
    requests.push(`${url.pathname}${url.search}`);
    const answer = route(req, url);
    if (answer === 'hang') return;
    const { status = 200, body } = answer ?? { status: 404, body: { error: 'not found' } };
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    address,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** syncz rows in istiod-lite's shape for the two bookinfo ztunnels. */
export function synczRows(adminAddresses: Partial<Record<'node-a' | 'node-b', string>> = {}): unknown[] {
  return (['node-a', 'node-b'] as const).map((node, i) => ({
    proxyId: `ztunnel~10.77.0.1${i + 1}~ztunnel-${node}~istio-system.svc.cluster.local`,
    nodeName: node,
    proxyType: 'ztunnel',
    ip: `10.77.0.1${i + 1}`,
    verified: false,
    secure: false,
    peer: 'ipv4:127.0.0.1:5555',
    connectedAt: '2026-11-21T12:00:00.000Z',
    types: {},
    // istiod-lite's shape: the admin address from node metadata ADMIN_ADDRESS, and the metadata itself.
    ...(adminAddresses[node] ? { adminAddress: adminAddresses[node] } : {}),
    metadata: { NODE_NAME: node, ...(adminAddresses[node] ? { ADMIN_ADDRESS: adminAddresses[node] } : {}) },
  }));
}

/** A fake istiod-lite debug server for the bookinfo mesh. */
export function istiodRoute(adminAddresses: Partial<Record<'node-a' | 'node-b', string>> = {}, dumps: Record<'node-a' | 'node-b', FixtureName> = { 'node-a': 'bookinfo-node-a', 'node-b': 'bookinfo-node-b' }): Route {
  return (_req, url) => {
    if (url.pathname === '/debug/syncz') return { body: synczRows(adminAddresses) };
    if (url.pathname === '/debug/config_dump') {
      const id = url.searchParams.get('proxyID') ?? '';
      const node = id.includes('ztunnel-node-a') ? 'node-a' : id.includes('ztunnel-node-b') ? 'node-b' : undefined;
      return node ? { body: fixtureJson(dumps[node]) } : { status: 404, body: { error: `proxy ${id} is not connected` } };
    }
    return undefined;
  };
}
